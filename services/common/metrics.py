"""What the services' metrics share: the HTTP endpoint, librdkafka's statistics, and families built from the names
in `metric_names`. Each service reads its figures at scrape time from what it already counts, so its hot loop pays
nothing for them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field
from pydantic_settings import BaseSettings

from core.metric_names import MetricName


class MetricsEndpointSettings(BaseSettings):
    """The `/metrics` endpoint of a service (each with its own prefix)."""

    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve Prometheus metrics on this port at /metrics (default: off)"
    )
    metrics_address: str = Field(
        "127.0.0.1", description="address the metrics endpoint binds to (0.0.0.0 inside a container)"
    )


class MetricsSettings(MetricsEndpointSettings):
    """The endpoint of a Kafka client's service, and how often librdkafka reports the statistics it reads."""

    statistics_interval_ms: int = Field(
        10_000, ge=100, le=3_600_000, description="how often librdkafka refreshes the statistics the metrics read"
    )


class LibrdkafkaStats:
    """librdkafka's `stats_cb`: keeps the latest statistics document (queue depth, per-partition lag)."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}
        self.updated = 0.0

    def __call__(self, document: str) -> None:
        self.latest = orjson.loads(document)
        self.updated = time.time()

    def config(self, interval_ms: int) -> dict[str, Any]:
        """The client settings that deliver the statistics here."""
        return {"statistics.interval.ms": interval_ms, "stats_cb": self}

    def partitions(self, topic: str) -> dict[int, dict[str, Any]]:
        """The partitions of `topic` this client handles (librdkafka's internal partition -1 left out)."""
        parts = self.latest.get("topics", {}).get(topic, {}).get("partitions", {})
        return {int(p): v for p, v in parts.items() if int(p) >= 0}


def counter(metric: MetricName, value: float | Mapping[tuple[str, ...], float]) -> CounterMetricFamily:
    family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
    _add(family, metric, value)
    return family


def gauge(metric: MetricName, value: float | Mapping[tuple[str, ...], float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
    _add(family, metric, value)
    return family


def summary(metric: MetricName, count: float, total: float) -> SummaryMetricFamily:
    return SummaryMetricFamily(metric.name, metric.help, count_value=count, sum_value=total)


def _add(family: CounterMetricFamily | GaugeMetricFamily, metric: MetricName, value: Any) -> None:
    if metric.labels:
        for labels, v in value.items():
            family.add_metric(list(labels), v)
    else:
        family.add_metric([], value)


class FunctionCollector(Collector):
    """A collector that calls a function for its families at each scrape."""

    def __init__(self, collect: Any) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


class MetricsServer:
    """`/metrics` on `address:port`, serving `collector` in a registry of its own, in a daemon thread."""

    def __init__(self, collector: Collector, port: int, address: str = "127.0.0.1"):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        self.port = int(self._server.server_port)
        self.address = address

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
