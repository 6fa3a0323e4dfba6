"""The ingest service's `/metrics` (on its own port, never the public one): requests by status, records accepted
and refused by reason, request and produce latency histograms, requests in flight. Names from `core.metric_names`."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from core import metric_names as m

#: Buckets of the latency histograms, seconds: the target p99 is 0.1 s, the default deadline 10 s.
BUCKETS: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(m.INGEST_REQUESTS.name, m.INGEST_REQUESTS.help, m.INGEST_REQUESTS.labels, registry=r)
        self.accepted = Counter(m.INGEST_RECORDS_ACCEPTED.name, m.INGEST_RECORDS_ACCEPTED.help, registry=r)
        self.refused = Counter(
            m.INGEST_RECORDS_REFUSED.name, m.INGEST_RECORDS_REFUSED.help, m.INGEST_RECORDS_REFUSED.labels, registry=r
        )
        self.request_seconds = Histogram(
            m.INGEST_REQUEST_SECONDS.name, m.INGEST_REQUEST_SECONDS.help, buckets=BUCKETS, registry=r
        )
        self.produce_seconds = Histogram(
            m.INGEST_PRODUCE_SECONDS.name, m.INGEST_PRODUCE_SECONDS.help, buckets=BUCKETS, registry=r
        )
        self.in_flight = Gauge(m.INGEST_IN_FLIGHT.name, m.INGEST_IN_FLIGHT.help, registry=r)

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, address, registry=self.registry)
