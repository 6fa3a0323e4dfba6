"""The compactor as a service: one run, or (with `COMPACTOR_INTERVAL_S`) a run every interval until stopped, with
its metrics served at `/metrics` when `COMPACTOR_METRICS_PORT` is set.

On the host it keeps running, like the producer and the consumer, so the CloudWatch agent scrapes its metrics the
same way as theirs: a process that exits after each run would be gone before any scrape saw its figures. A failed
run is logged and counted (`fitness_compactor_failures_total`, which an alarm watches), and the next run tries
again; the table is as its last commit left it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from services.common.metrics import MetricsServer
from services.common.stop import StopRequest
from services.compactor.compactor import CompactionSummary, DaysFailed, compact, log
from services.compactor.metrics import CompactorMetrics
from services.compactor.settings import CompactorSettings


def run_once(
    settings: CompactorSettings, metrics: CompactorMetrics, should_stop: Callable[[], bool] | None = None
) -> CompactionSummary | None:
    """One compaction run, counted in `metrics`; None when it failed (the failure is logged)."""
    started = time.monotonic()
    try:
        summary = compact(
            settings, on_committed=metrics.day_committed, should_stop=should_stop, on_failed=metrics.day_failed
        )
    except DaysFailed as exc:  # each day was logged with its object; the other days are committed
        metrics.run_ended(time.monotonic() - started, failed=True)
        log.error("compaction failed; the other days are committed", days_failed=len(exc.summary.failed))
        return None
    except Exception:
        metrics.run_ended(time.monotonic() - started, failed=True)
        log.error("compaction failed; the table is as the last commit left it", exc_info=True)
        return None
    finally:
        _release_memory()
    seconds = time.monotonic() - started
    metrics.run_ended(seconds, failed=False)
    log.info("compaction done", days=summary.days_seen, commits=summary.commits, seconds=round(seconds, 2))
    return summary


def _release_memory() -> None:
    """Hand the run's Arrow buffers back to the system: a long-running compactor holds nothing between runs."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def serve(settings: CompactorSettings, stop: threading.Event | None = None) -> int:
    """Run once, or every `interval_s` until `stop` is set (SIGTERM or SIGINT sets it). Returns the exit status:
    0, or 1 when a single run failed."""
    stop = stop or threading.Event()
    metrics = CompactorMetrics()
    server: MetricsServer | None = None
    if settings.metrics_port is not None:
        server = metrics.serve(settings.metrics_port, settings.metrics_address)
        log.info("metrics served", url=server.url)

    def on_signal(name: str, _repeated: bool) -> None:
        log.info("stop requested", signal=name)
        stop.set()

    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(StopRequest(on_signal).installed())
        if server is not None:
            cleanup.callback(server.close)
        while True:
            result = run_once(settings, metrics, should_stop=stop.is_set)
            if settings.interval_s is None:
                return 0 if result is not None else 1
            if stop.wait(settings.interval_s):
                log.info("stopped")
                return 0
