"""Readers never see half a day, and a compactor killed at any point leaves the table as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from core.names import CURATED_TABLE, GLUE_DATABASE
from core.schema import Record
from fitpipe.sample_lake import START, land
from fitpipe.tables import connect_tables
from services.compactor.compactor import DAY, ROWS, compact
from services.producer.simulator import simulate
from tests.compactor.conftest import load_table, local_settings
from tests.conftest import REPO_ROOT

_COUNTS = f"""
    SELECT dt, count(*) AS n, count(DISTINCT (id, "date", "time")) AS distinct_n
    FROM "{GLUE_DATABASE}"."{CURATED_TABLE}" GROUP BY dt
"""


def _counts(lake: Path) -> dict[str, tuple[int, int]]:
    """Rows and distinct (id, date, time) per day, read as `fitpipe query` reads the curated table."""
    with connect_tables(lake / "no-raw-catalog.duckdb", lake) as con:
        return {day: (n, distinct) for day, n, distinct in con.execute(_COUNTS).fetchall()}


def _committed_rows(lake: Path) -> dict[str, set[int]]:
    """Every row count a commit gave each day."""
    found: dict[str, set[int]] = {}
    for snapshot in load_table(lake).metadata.snapshots:
        if snapshot.summary and DAY in snapshot.summary.additional_properties:
            found.setdefault(snapshot.summary[DAY], set()).add(int(snapshot.summary[ROWS]))
    return found


def _slices(records: list[Record], parts: int) -> list[list[Record]]:
    """The records in `parts` slices of event time, each adding minutes to every day."""
    by_minute = sorted(records, key=lambda r: (r["time"], r["date"], r["id"]))
    size = -(-len(by_minute) // parts)
    return [by_minute[i : i + size] for i in range(0, len(by_minute), size)]


@pytest.mark.slow
def test_a_reader_sees_whole_days_only_while_the_compactor_runs_and_files_land(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    slices = _slices(list(simulate(3, START, 2, seed=5)), 8)
    offsets = land(lake, slices[0], records_per_file=11)
    compact(local_settings(lake))

    observed: list[dict[str, tuple[int, int]]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                observed.append(_counts(lake))
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for part in slices[1:]:
            offsets = land(lake, part, records_per_file=11, first_offsets=offsets)
            compact(local_settings(lake))
            time.sleep(0.2)
    finally:
        stop.set()
        reader.join(60)
    assert not errors, errors

    committed = _committed_rows(lake)
    assert len(observed) >= 5, "the reader ran throughout"
    for counts in observed:
        for day, (n, distinct) in counts.items():
            assert n == distinct, f"{day}: a duplicate (id, date, time)"
            assert n in committed[day], f"{day}: {n} rows is not a state any commit made ({sorted(committed[day])})"
    seen_per_day = {day: {c[day][0] for c in observed if day in c} for day in committed}
    assert any(len(values) > 2 for values in seen_per_day.values()), "the reader saw days move from state to state"
    assert _counts(lake) == {d: (n, n) for d, n in Counter(r["date"] for s in slices for r in s).items()}


def _start_compactor(lake: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPACTOR_")}
    env |= {"COMPACTOR_CATALOG": "sql", "COMPACTOR_LAKE_DIR": str(lake), "PYTHONPATH": str(REPO_ROOT)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.compactor"], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_for_event(log: Path, event: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and json.loads(line).get("event") == event:
                return
        assert process.poll() is None, log.read_text()
        time.sleep(0.01)
    raise AssertionError(f"no {event!r} in {log.read_text()}")


@pytest.mark.slow
def test_sigkill_mid_run_leaves_the_table_unchanged_and_the_next_run_completes(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    records = list(simulate(3, START, 3, seed=9))
    first, *rest = _slices(records, 3)
    offsets = land(lake, first, records_per_file=11)
    compact(local_settings(lake))
    before_location = load_table(lake).metadata_location
    before = _counts(lake)
    for part in rest:  # late data for every day: three days due
        offsets = land(lake, part, records_per_file=11, first_offsets=offsets)
    complete = {d: (n, n) for d, n in Counter(r["date"] for r in records).items()}

    for attempt, delay in enumerate((0.0, 0.3, 0.8, 1.5)):
        log = tmp_path / f"compactor-{attempt}.log"
        process = _start_compactor(lake, log)
        _wait_for_event(log, "raw zone listed", process)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert process.returncode == -signal.SIGKILL or process.returncode == 0, log.read_text()
        counts = _counts(lake)  # readable
        if attempt == 0:
            assert load_table(lake).metadata_location == before_location, "killed before its commit: unchanged"
            assert counts == before
        for day, state in counts.items():
            assert state in (before.get(day), complete[day]), f"{day}: {state} is neither the old nor the new day"

    compact(local_settings(lake))  # the next run completes what the killed ones began
    assert _counts(lake) == complete
    assert compact(local_settings(lake)).commits == 0
