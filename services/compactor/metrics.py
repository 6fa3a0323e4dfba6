"""The compactor's `/metrics`: its runs and failures, the days it rewrote and those it left out, the raw files and
bytes it folded in, the curated files and bytes it wrote, and the seconds each run took. Counted as each day's
commit is done, so a run that fails half-way still counts the days it committed."""

from __future__ import annotations

import threading

from prometheus_client.core import Metric

from core import metric_names as m
from services.common.metrics import FunctionCollector, MetricsServer, counter, summary
from services.compactor.compactor import DayResult


class CompactorMetrics:
    """The figures of a compactor since it started; `serve` exposes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs = 0
        self.failures = 0
        self.days_rewritten = 0
        self.days_failed = 0
        self.files_read = 0
        self.bytes_read = 0
        self.files_written = 0
        self.bytes_written = 0
        self.run_seconds = 0.0

    def day_committed(self, day: DayResult) -> None:
        with self._lock:
            self.days_rewritten += 1
            self.files_read += day.raw_objects
            self.bytes_read += day.raw_bytes
            self.files_written += day.files_written
            self.bytes_written += day.bytes_written

    def day_failed(self, _error: object) -> None:
        with self._lock:
            self.days_failed += 1

    def run_ended(self, seconds: float, failed: bool) -> None:
        with self._lock:
            self.runs += 1
            self.failures += int(failed)
            self.run_seconds += seconds

    def collect(self) -> list[Metric]:
        with self._lock:  # one consistent set of figures per scrape
            return [
                counter(m.COMPACTOR_RUNS, self.runs),
                counter(m.COMPACTOR_FAILURES, self.failures),
                counter(m.COMPACTOR_DAYS_REWRITTEN, self.days_rewritten),
                counter(m.COMPACTOR_DAYS_FAILED, self.days_failed),
                counter(m.COMPACTOR_FILES_IN, self.files_read),
                counter(m.COMPACTOR_BYTES_IN, self.bytes_read),
                counter(m.COMPACTOR_FILES_OUT, self.files_written),
                counter(m.COMPACTOR_BYTES_OUT, self.bytes_written),
                summary(m.COMPACTOR_RUN_SECONDS, self.runs, self.run_seconds),
            ]

    def serve(self, port: int, address: str = "127.0.0.1") -> MetricsServer:
        return MetricsServer(FunctionCollector(self.collect), port, address)
