"""The producer's `/metrics`: what the loop hands to Kafka (updated after each chunk of at most 4,096 records), the
delivery errors by reason, and librdkafka's queue depth from its statistics."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from core import metric_names as m
from services.common.metrics import FunctionCollector, LibrdkafkaStats, MetricsServer, counter, gauge


class ProducerMetrics:
    """The figures of a running producer; `serve` exposes them."""

    def __init__(self, statistics_interval_ms: int = 10_000) -> None:
        self.records = 0
        self.bytes = 0
        self.errors_by_reason: dict[str, int] = {}
        self.stats = LibrdkafkaStats()
        self.statistics_interval_ms = statistics_interval_ms

    def client_config(self) -> dict[str, object]:
        return self.stats.config(self.statistics_interval_ms)

    def collect(self) -> Iterator[Metric]:
        yield counter(m.PRODUCER_RECORDS, self.records)
        yield counter(m.PRODUCER_BYTES, self.bytes)
        yield counter(m.PRODUCER_DELIVERY_ERRORS, {(k,): v for k, v in dict(self.errors_by_reason).items()})
        latest = self.stats.latest
        if latest:
            yield gauge(m.PRODUCER_QUEUE_MESSAGES, latest.get("msg_cnt", 0))
            yield gauge(m.PRODUCER_QUEUE_BYTES, latest.get("msg_size", 0))

    def serve(self, port: int, address: str = "127.0.0.1") -> MetricsServer:
        return MetricsServer(FunctionCollector(self.collect), port, address)
