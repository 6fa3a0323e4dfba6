"""The consumer's `/metrics`: read at scrape time from the writer's summary, its partitions and librdkafka's
statistics, so the loop that handles each record counts nothing more than it did."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import Metric

from core import metric_names as m
from services.common.metrics import FunctionCollector, MetricsServer, counter, gauge
from services.consumer.records import DEAD_LETTER_KINDS

if TYPE_CHECKING:
    from services.consumer.writer import LakeWriter


def collect(writer: LakeWriter) -> Iterator[Metric]:
    s = writer.summary
    yield counter(m.CONSUMER_RECORDS_READ, s.records_in)
    yield counter(m.CONSUMER_RECORDS_LANDED, s.records_out)
    by_reason = dict(s.dead_letters_by_reason)
    yield counter(m.CONSUMER_DEAD_LETTERS, {(k,): by_reason.get(k, 0) for k in (*DEAD_LETTER_KINDS, *by_reason)})
    yield counter(m.CONSUMER_FILES, s.files_written)
    yield counter(m.CONSUMER_BYTES, s.bytes_written)
    yield counter(m.CONSUMER_STORAGE_RETRIES, s.storage_retries)
    yield counter(m.CONSUMER_RANGES_REPLAYED, s.batches_replayed)
    lag, lag_seconds = writer.lag_by_partition(time.time())
    yield gauge(m.CONSUMER_LAG_RECORDS, {(str(p),): v for p, v in lag.items()})
    yield gauge(m.CONSUMER_LAG_SECONDS, {(str(p),): v for p, v in lag_seconds.items()})
    if s.newest_event is not None:
        yield gauge(m.CONSUMER_NEWEST_EVENT, s.newest_event)
        yield gauge(m.CONSUMER_FRESHNESS, max(0.0, time.time() - s.newest_event))
    if s.last_commit is not None:
        yield gauge(m.CONSUMER_LAST_COMMIT, s.last_commit)


def serve(writer: LakeWriter) -> MetricsServer | None:
    """Start the endpoint when the settings give a port."""
    settings = writer.settings
    if settings.metrics_port is None:
        return None
    return MetricsServer(FunctionCollector(lambda: collect(writer)), settings.metrics_port, settings.metrics_address)
