"""Every named query gives the same result on the curated table as on the raw table, on a lake laid out like the
deployed host's live stream: 33 users x 7 days in files of 11 records (more than 30,000 files)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from core.names import GLUE_DATABASE, GLUE_TABLE
from fitpipe.catalog import crawl, default_catalog
from fitpipe.compact import compact_lake
from fitpipe.query import QueryResult, named_queries, run
from fitpipe.sample_lake import host_like_lake
from fitpipe.tables import connect_tables, on_table
from services.compactor.raw import LocalRawZone
from tests.compactor.conftest import load_table
from tests.trino.compare import MAX_TOLERATED_SHARE, Answer, SummationOrder, compare, is_ordered, with_unrounded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("host-like") / "lake"
    host_like_lake(lake, users=33, days=7, records_per_file=11)
    crawl(lake)
    compact_lake(lake)
    return lake


@pytest.fixture(scope="module")
def connection(host_lake: Path):
    """Both tables; the raw table read once from its 30,000 files into memory, so that each query runs in seconds."""
    with connect_tables(default_catalog(host_lake), host_lake) as con:
        raw = f'"{GLUE_DATABASE}"."{GLUE_TABLE}"'
        con.execute(f'CREATE TABLE "{GLUE_DATABASE}".raw_rows AS SELECT * FROM {raw}')
        con.execute(f"DROP VIEW {raw}")
        con.execute(f'ALTER TABLE "{GLUE_DATABASE}".raw_rows RENAME TO "{GLUE_TABLE}"')
        yield con


def _same(connection, sql: str, curated: QueryResult, raw: QueryResult) -> None:
    """The two answers are equal under the rule the local engine is held to against Trino (tests/trino/compare.py):
    integers, strings and NULLs exactly, and each rounded DOUBLE exactly, unless the unrounded values (from one
    execution with an unrounded twin beside each rounded column) differ by less than 1e-12 relative: a sum added
    up in another order, which can land either side of a rounding half."""
    twinned, twins = with_unrounded(sql)

    def unrounded() -> tuple[Answer, Answer]:
        return _answer(run(connection, twinned)), _answer(run(connection, on_table(twinned, GLUE_TABLE)))

    verdict = compare("curated against raw", _answer(curated), _answer(raw), twins, unrounded, is_ordered(sql))
    for note in verdict.tolerated:
        warnings.warn(SummationOrder(note), stacklevel=1)
    assert not verdict.failures, "\n".join(verdict.failures)
    assert len(verdict.tolerated) <= max(1, MAX_TOLERATED_SHARE * verdict.compared_doubles), verdict.tolerated


def _answer(result: QueryResult) -> Answer:
    return Answer(result.columns, result.types, result.rows)


def test_the_lake_has_small_files_like_the_host(host_lake: Path) -> None:
    days = LocalRawZone(host_lake).days()
    assert len(days) == 7 and sum(len(d.objects) for d in days) >= 30_000
    files = [t.file for t in load_table(host_lake).scan().plan_files()]
    assert len(files) == 7, "one data file per day"


@pytest.mark.parametrize("query", named_queries(), ids=lambda q: q.name)
def test_a_named_query_is_the_same_on_curated_and_raw(connection, query) -> None:
    curated = run(connection, query.sql)
    raw = run(connection, on_table(query.sql, GLUE_TABLE))
    assert curated.rows, "the query returns rows"
    if _is_a_sample(query.sql):  # any rows of the table, in any order, on either side: each must be a row of both
        assert (curated.columns, curated.types, len(curated.rows)) == (raw.columns, raw.types, len(raw.rows))
        everything = set(run(connection, f'SELECT * FROM "{GLUE_DATABASE}"."{GLUE_TABLE}"').rows)
        assert set(curated.rows) <= everything and set(raw.rows) <= everything
    else:
        _same(connection, query.sql, curated, raw)


def _is_a_sample(sql: str) -> bool:
    """A LIMIT without an ORDER BY: the engine may return any rows."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="athena")
    return tree.args.get("limit") is not None and tree.args.get("order") is None
