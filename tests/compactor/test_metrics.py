"""The compactor's metrics, scraped over HTTP from real runs over a local lake: the figures of a run, a run with
nothing new, a failing run, and the long-running service as the host runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core import metric_names as m
from core.names import LAKE_DATA_PREFIX
from fitpipe.sample_lake import START, land
from services.compactor.metrics import CompactorMetrics
from services.compactor.service import run_once
from services.producer.simulator import simulate
from tests.compactor.conftest import load_table, local_settings
from tests.conftest import REPO_ROOT
from tests.consumer.conftest import free_port, wait_until
from tests.integration.test_metrics import scrape, value

DAYS = 2


def _raw_files(lake: Path) -> list[Path]:
    return sorted(p for p in (lake / LAKE_DATA_PREFIX).rglob("*") if p.is_file())


def _curated_files(lake: Path) -> list[tuple[str, int]]:
    """(path, bytes) of each data file of the curated table's current snapshot."""
    tasks = load_table(lake).scan().plan_files()
    return [(t.file.file_path, t.file.file_size_in_bytes) for t in tasks]


def _figures(url: str) -> dict[str, float | None]:
    samples = scrape(url)
    names = [metric.name for metric in m.of_service(m.COMPACTOR) if metric.kind == "counter"]
    figures = {name: value(samples, name) for name in names}
    figures["runs_count"] = value(samples, f"{m.COMPACTOR_RUN_SECONDS.name}_count")
    figures["seconds_sum"] = value(samples, f"{m.COMPACTOR_RUN_SECONDS.name}_sum")
    return figures


def test_a_run_a_run_with_nothing_new_and_a_failing_run(lake: Path) -> None:
    land(lake, simulate(3, START, DAYS, seed=8), records_per_file=11)
    raw = _raw_files(lake)
    metrics = CompactorMetrics()
    server = metrics.serve(free_port())
    try:
        settings = local_settings(lake)
        assert run_once(settings, metrics) is not None
        first = _figures(server.url)
        curated = _curated_files(lake)
        assert len(curated) == DAYS and len(raw) > 2 * DAYS
        assert first[m.COMPACTOR_RUNS.name] == 1
        assert first[m.COMPACTOR_FAILURES.name] == 0
        assert first[m.COMPACTOR_DAYS_REWRITTEN.name] == DAYS
        assert first[m.COMPACTOR_FILES_IN.name] == len(raw)
        assert first[m.COMPACTOR_BYTES_IN.name] == sum(p.stat().st_size for p in raw)
        assert first[m.COMPACTOR_FILES_OUT.name] == len(curated)
        assert first[m.COMPACTOR_BYTES_OUT.name] == sum(size for _, size in curated)
        assert first[m.COMPACTOR_BYTES_OUT.name] == sum(
            Path(path.removeprefix("file://")).stat().st_size for path, _ in curated
        )
        assert first["runs_count"] == 1 and first["seconds_sum"] > 0

        assert run_once(settings, metrics) is not None  # nothing new: a run, and nothing else moves
        second = _figures(server.url)
        assert second[m.COMPACTOR_RUNS.name] == 2 and second["runs_count"] == 2
        moved = {
            k for k in first if k not in (m.COMPACTOR_RUNS.name, "runs_count", "seconds_sum") and second[k] != first[k]
        }
        assert not moved, moved

        # A new good day, then a day whose one object is not JSON: the good day commits, then the run fails.
        later = START.fromordinal(START.toordinal() + DAYS)
        land(lake, simulate(3, later, 1, seed=9), records_per_file=11, first_offsets={0: 10**6, 1: 10**6, 2: 10**6})
        bad_day = lake / LAKE_DATA_PREFIX / f"dt={START.fromordinal(later.toordinal() + 1)}"
        bad_day.mkdir()
        (bad_day / "fitness-data+0+9999999-9999999.json").write_text("not json\n")
        new_raw = [p for p in _raw_files(lake) if p not in raw and p.parent != bad_day]
        assert run_once(settings, metrics) is None
        third = _figures(server.url)
        assert third[m.COMPACTOR_RUNS.name] == 3 and third[m.COMPACTOR_FAILURES.name] == 1
        assert third[m.COMPACTOR_DAYS_REWRITTEN.name] == DAYS + 1
        assert third[m.COMPACTOR_FILES_IN.name] == len(raw) + len(new_raw)
        assert third[m.COMPACTOR_FILES_OUT.name] == len(_curated_files(lake)) == DAYS + 1
    finally:
        server.close()


def test_the_service_runs_every_interval_counts_a_failure_goes_on_and_stops_on_sigterm(lake: Path) -> None:
    land(lake, simulate(2, START, 1, seed=4), records_per_file=11)
    raw = _raw_files(lake)
    port = free_port()
    env = {
        **os.environ,
        "COMPACTOR_CATALOG": "sql",
        "COMPACTOR_LAKE_DIR": str(lake),
        "COMPACTOR_INTERVAL_S": "0.2",
        "COMPACTOR_METRICS_PORT": str(port),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.compactor"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"

    def figure(name: str) -> float:
        try:
            return value(scrape(url), name) or 0
        except OSError:
            return 0

    try:
        assert wait_until(lambda: figure(m.COMPACTOR_RUNS.name) >= 2, 120), "the service did not run twice"
        assert figure(m.COMPACTOR_FILES_IN.name) == len(raw), "each raw file is folded in once"
        assert figure(m.COMPACTOR_DAYS_REWRITTEN.name) == 1
        bad_day = lake / LAKE_DATA_PREFIX / f"dt={START.fromordinal(START.toordinal() + 5)}"
        bad_day.mkdir()
        (bad_day / "fitness-data+0+9999999-9999999.json").write_text("not json\n")
        assert wait_until(lambda: figure(m.COMPACTOR_FAILURES.name) >= 1, 120)
        failed_at = figure(m.COMPACTOR_RUNS.name)
        assert wait_until(lambda: figure(m.COMPACTOR_RUNS.name) > failed_at, 120), "a failure ends the service"
        assert service.poll() is None
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=120)
    assert service.returncode == 0, err
    assert "compaction failed" in err + out and "stopped" in err + out


def test_without_an_interval_it_runs_once_and_exits_0_or_1_when_the_run_fails(lake: Path) -> None:
    land(lake, simulate(2, START, 1, seed=4), records_per_file=11)
    env = {**os.environ, "COMPACTOR_CATALOG": "sql", "COMPACTOR_LAKE_DIR": str(lake)}
    env.pop("COMPACTOR_INTERVAL_S", None)

    def once() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.compactor"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    done = once()
    assert done.returncode == 0, done.stderr
    assert len(_curated_files(lake)) == 1
    bad_day = lake / LAKE_DATA_PREFIX / f"dt={START.fromordinal(START.toordinal() + 5)}"
    bad_day.mkdir()
    (bad_day / "fitness-data+0+9999999-9999999.json").write_text("not json\n")
    failed = once()
    assert failed.returncode == 1 and "compaction failed" in failed.stderr
