"""`fitpipe query`: Athena SQL on the local lake with Trino's semantics, printed and exported."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fitpipe.catalog import default_catalog
from fitpipe.errors import UserError
from fitpipe.query import SQL_DIR, connect, read_named_query, run, translate
from tests.sql.lake import crawled_golden_lake

TABLE = '"fitness-data-kafka-database"."fitness_data_kafka_storage"'


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crawled_golden_lake(tmp_path_factory.mktemp("query"))


@pytest.fixture(scope="module")
def con(lake: Path):
    with connect(default_catalog(lake)) as con:  # the raw table and the curated one
        yield con


def _fitpipe(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"COLUMNS": "200"}  # rich fits tables to the terminal; give it room to print every name
    return subprocess.run(
        [sys.executable, "-m", "fitpipe", *args], capture_output=True, text=True, check=False, env=env
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("5 / 2", 2), ("-5 / 2", -2), ("7 / 7", 1), ("5 / 2.0", 2.5), ("CAST(5 AS DOUBLE) / 2", 2.5), ("5 % 3", 2)],
)
def test_integer_division_is_trinos(expression: str, expected: float) -> None:
    with duckdb.connect() as con:
        result = run(con, f"SELECT {expression} AS v")
    assert result.rows == [(expected,)]
    assert type(result.rows[0][0]) is type(expected)


def test_integer_division_of_columns(con) -> None:
    result = run(con, f"SELECT sum(steps) AS s, count(*) AS n, sum(steps) / count(*) AS per FROM {TABLE}")
    (s, n, per) = result.rows[0]
    assert per == s // n and isinstance(per, int)


def test_result_types_and_lower_case_names(con) -> None:
    result = run(
        con,
        f"SELECT id AS UserId, sum(steps) AS TotalSteps, count_if(intensity = 3) AS VeryActive, "
        f"avg(heartrate) AS HR, sum(calories) AS Kcal FROM {TABLE} GROUP BY id ORDER BY id",
    )
    assert result.columns == ["userid", "totalsteps", "veryactive", "hr", "kcal"]
    assert result.types == ["BIGINT", "BIGINT", "BIGINT", "DOUBLE", "DOUBLE"]
    assert all(isinstance(row[1], int) for row in result.rows)


def test_translation_keeps_quoted_reserved_words_and_the_schema_name() -> None:
    sql = translate(f'SELECT "date", "time" FROM {TABLE} WHERE "date" = \'2016-04-12\'')
    assert '"fitness-data-kafka-database"."fitness_data_kafka_storage"' in sql
    assert '"date"' in sql and '"time"' in sql


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"SELECT nosuchcolumn FROM {TABLE}", "nosuchcolumn"),
        ("SELEC 1", "does not parse"),
        ("SELECT 1; SELECT 2", "one SQL statement"),
    ],
)
def test_bad_sql_is_a_user_error(con, sql: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        run(con, sql)


def test_cli_runs_a_named_query_and_exports(lake: Path, tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "r.csv", tmp_path / "r.json"
    done = _fitpipe(
        "query",
        str(SQL_DIR / "02_intensity_distribution.sql"),
        "--lake",
        str(lake),
        "--format",
        "table",
        "--csv",
        str(out_csv),
        "--json",
        str(out_json),
    )
    assert done.returncode == 0, done.stderr
    assert "02_intensity_distribution" in done.stdout and "total_steps" in done.stdout
    rows = list(csv.DictReader(out_csv.open()))
    records = json.loads(out_json.read_text())
    assert len(rows) == len(records) > 0
    assert rows[0]["id"] == str(records[0]["id"])
    assert set(records[0]) == {
        "id",
        "date",
        "intensity",
        "total_minutes",
        "total_steps",
        "total_calories",
        "avg_heartrate",
    }
    assert isinstance(records[0]["total_steps"], int)


def test_cli_ad_hoc_sql(lake: Path) -> None:
    sql = f"SELECT count(DISTINCT id) AS users FROM {TABLE}"
    done = _fitpipe("query", "--lake", str(lake), "--format", "table", "-e", sql)
    assert done.returncode == 0, done.stderr
    assert "users" in done.stdout and "│     3 │" in done.stdout


def _in_terminal(*args: str, columns: int = 80) -> str:
    """What `fitpipe ARGS` prints on a terminal `columns` wide (a pseudo-terminal of that size)."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "fitpipe", *args], stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the command has finished
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_query_04_at_80_columns_keeps_every_name_and_value_whole(lake: Path, con) -> None:
    query = SQL_DIR / "04_daily_activity.sql"
    expected = run(con, read_named_query(query).sql)
    assert len(expected.columns) > 8, "a result wider than 80 columns"

    shown = _in_terminal("query", str(query), "--lake", str(lake), columns=80)
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    first = lines[lines.index("-[ row 1 ]-") + 1 :][: len(expected.columns)]
    assert [line.split(":", 1)[0] for line in first] == expected.columns
    assert [line.split(":", 1)[1].strip() for line in first] == [
        "NULL" if v is None else str(v) for v in expected.rows[0]
    ]


def test_a_narrow_result_is_a_table_on_a_terminal(lake: Path) -> None:
    shown = _in_terminal("query", "--lake", str(lake), "-e", f"SELECT count(DISTINCT id) AS users FROM {TABLE}")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "┃ users ┃" in plain and "│     3 │" in plain, "a count is right-aligned under its name"


def test_piped_output_is_csv_and_json_on_request(lake: Path, con) -> None:
    query = SQL_DIR / "04_daily_activity.sql"
    expected = run(con, read_named_query(query).sql)
    piped = _fitpipe("query", str(query), "--lake", str(lake), "--max-rows", "5")
    assert piped.returncode == 0, piped.stderr
    rows = list(csv.reader(piped.stdout.splitlines()))
    assert rows[0] == expected.columns and len(rows) == 1 + len(expected.rows), "every row, whatever --max-rows"
    as_json = _fitpipe("query", str(query), "--lake", str(lake), "--format", "json")
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(records) == len(expected.rows) and list(records[0]) == expected.columns
    assert records[0]["total_steps"] == expected.rows[0][expected.columns.index("total_steps")]


def test_vertical_on_request(lake: Path) -> None:
    done = _fitpipe("query", "--lake", str(lake), "--format", "vertical", "-e", "SELECT 1 AS a, 'x' AS long_name")
    assert done.stdout.splitlines() == ["-[ row 1 ]-", "a:         1", "long_name: x", "1 row(s)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a SQL file"),
        (["sql/nope.sql"], "no SQL file"),
        (["-e", "SELECT nosuch FROM x.y"], "Column 'nosuch' could not be resolved"),
    ],
)
def test_cli_mistakes_are_one_line(lake: Path, args: list[str], message: str) -> None:
    done = _fitpipe("query", "--lake", str(lake), *args)
    assert done.returncode == 2
    assert done.stderr.startswith("fitpipe query: error: ") and done.stderr.count("\n") == 1
    assert message in done.stderr
