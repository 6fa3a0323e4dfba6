"""The service's metrics (named in `core.metric_names`) and its log: one line per request, no record values."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metric_names as m
from fitpipe.kafka.broker import free_port
from tests.ingest.conftest import records, start_ingest, stop_ingest

pytestmark = pytest.mark.integration


def _samples(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_records_and_latency(kafka_bootstrap: str, topic_name: str, tmp_path: Path):
    port = free_port()
    service = start_ingest(kafka_bootstrap, topic_name, tmp_path, metrics_port=port)
    try:
        good = records(5)
        assert service.post([*good, {**good[0], "steps": -1}, "x"]).status_code == 200
        assert service.post(records(2)).status_code == 200
        assert service.post(records(1), headers={"Authorization": "Bearer no"}).status_code == 401
        samples = _samples(port)
    finally:
        stop_ingest(service)
    names = {name for name, _ in samples}
    for metric in m.INGEST_METRICS:
        assert any(n.startswith(metric.name.removesuffix("_total")) for n in names), metric.name
    assert samples[(m.INGEST_REQUESTS.name, (("status", "200"),))] == 2
    assert samples[(m.INGEST_REQUESTS.name, (("status", "401"),))] == 1
    assert samples[(m.INGEST_RECORDS_ACCEPTED.name, ())] == 7
    assert samples[(m.INGEST_RECORDS_REFUSED.name, (("reason", "invalid_fields"),))] == 1
    assert samples[(m.INGEST_RECORDS_REFUSED.name, (("reason", "not_an_object"),))] == 1
    assert samples[(m.INGEST_REQUEST_SECONDS.name + "_count", ())] == 3
    assert samples[(m.INGEST_PRODUCE_SECONDS.name + "_count", ())] == 2
    assert samples[(m.INGEST_IN_FLIGHT.name, ())] == 0


def test_one_log_line_per_request_and_no_record_values(kafka_bootstrap: str, topic_name: str, tmp_path: Path):
    service = start_ingest(kafka_bootstrap, topic_name, tmp_path)
    secret_steps = 123
    try:
        sent = [{**r, "steps": secret_steps, "heartrate": 187} for r in records(3)]
        assert service.post(sent).status_code == 200
        assert service.post([{**sent[0], "steps": 99999}]).status_code == 200
        assert service.post(b"[", headers={}).status_code == 400
    finally:
        stop_ingest(service)
    lines = [json.loads(line) for line in service.log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert [(r["status"], r["records"], r["accepted"], r["refused"]) for r in requests] == [
        (200, 3, 3, 0),
        (200, 1, 0, 1),
        (400, 0, 0, 0),
    ]
    text = service.log.read_text()
    assert "187" not in text and "99999" not in text and "2016-04-12" not in text
