"""The demo's CSV files and `fitpipe query` give, on the demo's lake, the values Trino gives."""

from __future__ import annotations

import csv
import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from core.queries import SQL_DIR, read_named_query
from fitpipe.catalog import default_catalog
from fitpipe.cli import main
from fitpipe.query import run_named_queries, write_csv
from tests.trino.server import TrinoServer
from tests.trino.tables import register_lake, unregister_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The queries whose rounded values the local engine once answered otherwise than Athena on the demo's lake.
QUERIES = ["02_intensity_distribution", "04_daily_activity", "08_sleep_stages_per_night"]


@pytest.fixture(scope="module")
def trino_answers(trino_server: TrinoServer, demo_lake: Path) -> dict[str, list[list[str]]]:
    """Each query's answer on Trino as CSV rows (a header, then the values as Python prints them)."""
    con = trino_server.connect()
    answers = {}
    try:
        register_lake(con, demo_lake)
        for name in QUERIES:
            cursor = con.cursor()
            cursor.execute(read_named_query(SQL_DIR / f"{name}.sql").sql.strip().rstrip(";"))
            rows = [["" if v is None else str(v) for v in row] for row in cursor.fetchall()]
            answers[name] = [[d[0] for d in cursor.description], *rows]
    finally:
        unregister_lake(con)
        con.close()
    return answers


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("name", QUERIES)
def test_the_demos_csv_gives_trinos_values(name: str, demo_lake: Path, trino_answers, tmp_path: Path) -> None:
    result = run_named_queries(default_catalog(demo_lake))[name]  # what the demo runs, then writes as CSV
    write_csv(result, tmp_path / f"{name}.csv")
    assert _rows((tmp_path / f"{name}.csv").read_text(encoding="utf-8")) == trino_answers[name]


@pytest.mark.parametrize("name", QUERIES)
def test_fitpipe_query_gives_trinos_values(name: str, demo_lake: Path, trino_answers) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["query", str(SQL_DIR / f"{name}.sql"), "--lake", str(demo_lake), "--format", "csv"])
    assert code == 0
    assert _rows(out.getvalue()) == trino_answers[name]
