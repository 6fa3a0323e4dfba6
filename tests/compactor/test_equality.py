"""Every named query gives the same result on the curated table as on the raw table, on a lake laid out like the
deployed host's live stream: 33 users x 7 days in files of 11 records (more than 30,000 files)."""

from __future__ import annotations

import math
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


def _same(a: QueryResult, b: QueryResult) -> None:
    assert a.columns == b.columns and a.types == b.types
    assert len(a.rows) == len(b.rows)
    for row_a, row_b in zip(a.rows, b.rows, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):  # sums in another order: the last bits may differ
                assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9), (row_a, row_b)
            else:
                assert x == y, (row_a, row_b)


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
        _same(curated, raw)


def _is_a_sample(sql: str) -> bool:
    """A LIMIT without an ORDER BY: the engine may return any rows."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="athena")
    return tree.args.get("limit") is not None and tree.args.get("order") is None
