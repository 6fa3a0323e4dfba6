"""`fitpipe compact` and the local reading of the curated table: the command's output, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.names import CURATED_TABLE, GLUE_TABLE
from fitpipe.catalog import crawl
from fitpipe.cli import main
from fitpipe.sample_lake import START, land
from fitpipe.tables import on_table
from services.producer.simulator import simulate


@pytest.fixture
def raw_lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    land(lake, list(simulate(2, START, 2, seed=1)), records_per_file=50)
    return lake


def test_compact_commits_each_day_once_then_nothing(raw_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compact", "--lake", str(raw_lake)]) == 0
    out = capsys.readouterr().out
    assert "dt=2016-04-12:" in out and "dt=2016-04-13:" in out and "2,880 rows in one commit" in out
    assert main(["compact", "--lake", str(raw_lake)]) == 0
    assert "is up to date with the 2 day(s)" in capsys.readouterr().out


def test_compact_without_raw_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compact", "--lake", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fitpipe compact: error: no raw data under") and "\n" not in err


def test_querying_the_curated_table_before_compacting_says_what_to_run(
    raw_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crawl(raw_lake)
    assert main(["query", "sql/04_daily_activity.sql", "--lake", str(raw_lake)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no curated table in" in err and "fitpipe compact --lake" in err and "\n" not in err
    # The raw table answers meanwhile.
    assert (
        main(
            [
                "query",
                "-e",
                f'SELECT count(*) AS n FROM "fitness-data-kafka-database"."{GLUE_TABLE}"',
                "--lake",
                str(raw_lake),
            ]
        )
        == 0
    )
    assert "5760" in capsys.readouterr().out


def test_on_table_points_a_query_at_the_raw_table() -> None:
    sql = f'SELECT count(*) FROM "fitness-data-kafka-database"."{CURATED_TABLE}" AS c WHERE c.dt = \'2016-04-12\''
    moved = on_table(sql, GLUE_TABLE)
    assert f'"{GLUE_TABLE}"' in moved and CURATED_TABLE not in moved
