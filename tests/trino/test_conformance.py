"""Every named query answers on the local engine as it does on Trino, the engine Athena is built on: each `sql/`
file (found at collection, so a new query is checked with no change here), on the curated and on the raw table,
over the demo's lake and over the replay of the Fitabase export, under the rule of tests/trino/compare.py."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.names import CURATED_TABLE, GLUE_DATABASE, GLUE_TABLE
from core.queries import named_queries
from fitpipe.catalog import default_catalog
from fitpipe.query import connect, run
from fitpipe.tables import on_table
from tests.sql.test_trino_round import ROUND_CASES
from tests.trino.compare import (
    MAX_TOLERATED_SHARE,
    Answer,
    SummationOrder,
    compare,
    duckdb_type_name,
    is_ordered,
    is_preview,
    with_unrounded,
)
from tests.trino.server import TrinoServer
from tests.trino.tables import register_lake, unregister_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUERIES = named_queries()
TABLES = {"curated": CURATED_TABLE, "raw": GLUE_TABLE}


@dataclass
class Engines:
    lake_name: str
    lake: Path
    trino: Any  # a DB-API connection
    local: Any  # a DuckDB connection with the lake's tables

    def ask_trino(self, sql: str) -> Answer:
        cursor = self.trino.cursor()
        cursor.execute(sql.strip().rstrip(";"))
        rows = [tuple(row) for row in cursor.fetchall()]
        return Answer([d[0] for d in cursor.description], [duckdb_type_name(d[1]) for d in cursor.description], rows)

    def ask_local(self, sql: str) -> Answer:
        result = run(self.local, sql)
        return Answer(result.columns, result.types, result.rows)


@pytest.fixture(scope="module", params=["demo", "fitabase"])
def engines(request: pytest.FixtureRequest, trino_server: TrinoServer) -> Iterator[Engines]:
    """Trino and the local engine over the same lake's two tables."""
    lake = request.getfixturevalue(f"{request.param}_lake")
    trino = trino_server.connect()
    register_lake(trino, lake)
    try:
        with connect(default_catalog(lake), lake) as local:
            yield Engines(request.param, lake, trino, local)
    finally:
        unregister_lake(trino)
        trino.close()


def _sql_on(query_sql: str, table: str) -> str:
    return query_sql if table == CURATED_TABLE else on_table(query_sql, table)


def _table_row_count(engines: Engines, table: str) -> tuple[int, int]:
    sql = f'SELECT count(*) AS n FROM "{GLUE_DATABASE}"."{table}"'
    return engines.ask_trino(sql).rows[0][0], engines.ask_local(sql).rows[0][0]


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
def test_both_engines_read_the_same_rows(engines: Engines, table: str) -> None:
    in_trino, locally = _table_row_count(engines, table)
    assert in_trino == locally > 0, (engines.lake_name, table, in_trino, locally)


def _a_row_of_the_table(engines: Engines, table: str, columns: list[str], row: tuple, ask) -> bool:
    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return f"CAST('{value!r}' AS DOUBLE)" if isinstance(value, float) else str(value)

    conditions = " AND ".join(
        f'"{c}" IS NULL' if v is None else f'"{c}" = {literal(v)}' for c, v in zip(columns, row, strict=True)
    )
    found = ask(f'SELECT count(*) FROM "{GLUE_DATABASE}"."{table}" WHERE {conditions}').rows[0][0]
    return found > 0


def check_query(engines: Engines, sql: str, label: str) -> list[str]:
    """The failures of one query on one table (an empty list when the engines agree under the rule); tolerated
    summation-order differences are reported as warnings."""
    trino, local = engines.ask_trino(sql), engines.ask_local(sql)
    if is_preview(sql):
        failures = []
        if (trino.columns, trino.types) != (local.columns, local.types):
            failures.append(f"{label}: columns differ: Trino {trino.columns} {trino.types}, local {local.columns}")
        if len(trino.rows) != len(local.rows):
            failures.append(f"{label}: {len(trino.rows)} rows in Trino, {len(local.rows)} locally")
        table = next(t for t in TABLES.values() if f'"{t}"' in sql or f".{t}" in sql)
        for row in local.rows:  # each row the local engine returns is one Trino has in the table, and vice versa
            if not _a_row_of_the_table(engines, table, local.columns, row, engines.ask_trino):
                failures.append(f"{label}: the local row {row} is not a row of the table in Trino")
        for row in trino.rows:
            if not _a_row_of_the_table(engines, table, trino.columns, row, engines.ask_local):
                failures.append(f"{label}: Trino's row {row} is not a row of the table locally")
        return failures
    twinned, twins = with_unrounded(sql)
    verdict = compare(
        label,
        trino,
        local,
        twins,
        lambda: (engines.ask_trino(twinned), engines.ask_local(twinned)),
        ordered=is_ordered(sql),
    )
    for note in verdict.tolerated:
        warnings.warn(SummationOrder(note), stacklevel=1)
    if len(verdict.tolerated) > max(1, MAX_TOLERATED_SHARE * verdict.compared_doubles):
        verdict.failures.append(
            f"{label}: {len(verdict.tolerated)} of {verdict.compared_doubles} doubles differ by summation order"
        )
    return verdict.failures


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_the_named_query_answers_as_on_trino(engines: Engines, query, table: str) -> None:
    label = f"{query.name} on {table} over the {engines.lake_name} lake"
    failures = check_query(engines, _sql_on(query.sql, table), label)
    assert not failures, "\n".join(failures)


def test_round_is_trinos_on_trino(trino_server: TrinoServer) -> None:
    """The cases of the local engine's round test, asked of Trino itself: they are Trino's answers."""
    con = trino_server.connect()
    try:
        cursor = con.cursor()
        for value, decimals, expected in ROUND_CASES:
            cursor.execute(f"SELECT round(CAST({value!r} AS DOUBLE), {decimals})")
            assert cursor.fetchall() == [[expected]], (value, decimals)
    finally:
        con.close()
