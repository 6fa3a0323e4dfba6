"""`fitpipe demo`: one command from an empty folder to a report, with the broker stopped afterwards."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fitpipe.query import named_queries
from tests.conftest import broker_processes
from tests.fitpipe.test_report import assert_charts_drawn

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _demo(out: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = os.environ | {"COLUMNS": "200"}
    command = [sys.executable, "-m", "fitpipe", "demo", "--out", str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=timeout)


def _rows_in_table(catalog: Path) -> int:
    with duckdb.connect(str(catalog), read_only=True) as con:
        count = con.execute('SELECT count(*) FROM "fitness-data-kafka-database"."fitness_data_kafka_storage"')
        return count.fetchone()[0]


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _demo(out, "--users", "4", "--days", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    expected = 4 * 2 * 1440

    catalog = out / "lake" / "catalog.duckdb"
    assert _rows_in_table(catalog) == expected
    for query in named_queries():
        assert (out / "results" / f"{query.name}.csv").exists(), query.name
    with open(out / "results" / "01_sedentary_minutes_per_day.csv") as f:
        assert [row["id"] for row in csv.DictReader(f)] == ["1503960366"], "the cohort includes query 01's user"
    with open(out / "results" / "07_partition_freshness.csv") as f:
        assert sum(int(row["records"]) for row in csv.DictReader(f)) == expected

    steps = ("start Kafka", "produce", "consume until caught up", "crawl", "compact", "run the named queries", "report")
    for step in steps:
        assert step in done.stderr
    assert "Where everything is" in done.stderr and str((out / "report.html").resolve()) in done.stderr
    assert "broker stopped" in done.stderr
    assert "rdkafka" not in done.stdout + done.stderr, "librdkafka's lines only with -v"
    for service in ("producer", "consumer"):
        assert re.search(rf"{service} metrics at http://127\.0\.0\.1:\d+/metrics while it runs", done.stderr)
    assert broker_processes(out / "kafka") == []
    assert_charts_drawn(out / "report.html", tmp_path)

    again = _demo(out, "--users", "4", "--days", "2")  # a second run starts clean: the records land once
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rdkafka" not in again.stdout + again.stderr
    assert _rows_in_table(catalog) == expected


def test_demo_stops_the_broker_when_a_step_fails(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _demo(out, "--replay", str(tmp_path / "no-such-export"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("fitpipe demo: error: ")
    assert "broker stopped" in done.stderr
    assert broker_processes(out / "kafka") == []


def test_demo_can_send_through_the_http_front_end(tmp_path: Path) -> None:
    """The design's path, script -> front end -> Kafka: the records go through the ingest service, and the summary
    says so."""
    out = tmp_path / "out"
    done = _demo(out, "--users", "2", "--days", "1", "--via-http")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "through the HTTP front end" in done.stderr
    assert re.search(r"records came by\W+HTTP front end at http://127\.0\.0\.1:\d+, then Kafka", done.stderr)
    assert "2,880 records through http://127.0.0.1:" in done.stderr
    assert _rows_in_table(out / "lake" / "catalog.duckdb") == 2 * 1440
    assert broker_processes(out / "kafka") == []
