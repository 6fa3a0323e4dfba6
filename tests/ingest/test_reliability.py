"""What a 200 promises under failure: the broker killed under load and restarted, the service stopped under load,
and retried requests. Every record of a request answered 200 is in the curated table exactly once afterwards;
every request not answered 200 got a 5xx or lost its connection; and the service recovers by itself."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from fitpipe.kafka import LocalBroker
from tests.ingest.conftest import Ingest, curated_rows, records, start_ingest, stop_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The users of the load: the test key may write them all.
LOAD_USERS = tuple(1_000_000_000 + i for i in range(8))
PER_REQUEST = 100


@dataclass
class Load:
    """Clients posting requests of 100 new records each (no record is sent twice), noting each answer."""

    service: Ingest
    threads: int = 4
    acked: list[list[dict]] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    other: list[str] = field(default_factory=list)
    _next: itertools.count = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.service.key}", "Content-Type": "application/json"}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                n = next(self._next)
                user = LOAD_USERS[n % len(LOAD_USERS)]
                batch = records(PER_REQUEST, user=user, start_minute=(n // len(LOAD_USERS)) * PER_REQUEST)
                try:
                    response = client.post(
                        f"{self.service.url}/v1/records", content=orjson.dumps(batch), headers=headers
                    )
                except httpx.TransportError as exc:
                    with self._lock:
                        self.failures[type(exc).__name__] += 1
                    time.sleep(0.05)
                    continue
                with self._lock:
                    if response.status_code == 200:
                        assert response.json() == {"accepted": PER_REQUEST, "refused": []}
                        self.acked.append(batch)
                    elif response.status_code >= 500:
                        self.failures[response.status_code] += 1
                        if response.status_code == 503:
                            assert int(response.headers["retry-after"]) >= 1
                    else:
                        self.other.append(f"{response.status_code} {response.text[:200]}")
                if response.status_code != 200:
                    time.sleep(0.05)

    def wait_acked(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.acked) >= count

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)


def _assert_exactly_once(load: Load, rows: list[tuple[int, str, str]]) -> None:
    counts = Counter(rows)
    assert max(counts.values()) == 1, "the curated table keeps one row per (id, date, time)"
    acked = [(r["id"], r["date"], r["time"]) for batch in load.acked for r in batch]
    missing = [key for key in acked if key not in counts]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records are not in the curated table"


def test_broker_killed_under_load_loses_no_acknowledged_record(tmp_path: Path):
    broker = LocalBroker(tmp_path / "kafka")
    bootstrap = broker.start()
    port = int(bootstrap.rsplit(":", 1)[1])
    service = start_ingest(
        bootstrap, "ingest-kill", tmp_path, users=LOAD_USERS, ack_timeout_s=3, retry_after_s=1, rate_per_client=10_000
    )
    load = Load(service).start()
    try:
        assert load.wait_acked(20, 60), "no load before the kill"
        broker.stop(kill=True)  # SIGKILL
        failed_at_kill = sum(load.failures.values())
        deadline = time.monotonic() + 20
        while sum(load.failures.values()) < failed_at_kill + 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        acked_while_down = len(load.acked)
        assert sum(load.failures.values()) >= failed_at_kill + 5, "requests still answered 200 with Kafka down"
        broker.start(port=port)
        assert load.wait_acked(acked_while_down + 30, 90), "the service did not recover after the broker came back"
    finally:
        load.stop()
        stop_ingest(service)
    try:
        assert not load.other, load.other[:5]
        assert set(load.failures) <= {503, "ConnectError", "ReadError", "RemoteProtocolError", "ReadTimeout"}
        assert load.failures[503] > 0
        _assert_exactly_once(load, curated_rows(bootstrap, service.topic, tmp_path / "lake"))
    finally:
        broker.stop()


def test_sigterm_under_load_acknowledges_nothing_it_then_loses(kafka_bootstrap: str, topic_name: str, tmp_path: Path):
    service = start_ingest(kafka_bootstrap, topic_name, tmp_path, users=LOAD_USERS, rate_per_client=10_000)
    load = Load(service).start()
    try:
        assert load.wait_acked(30, 60)
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(60) == 0 or service.process.returncode in (0, -signal.SIGTERM)
        time.sleep(0.5)
    finally:
        load.stop()
        stop_ingest(service)
    assert not load.other, load.other[:5]
    assert set(load.failures) <= {503, "ConnectError", "ReadError", "RemoteProtocolError"}
    _assert_exactly_once(load, curated_rows(kafka_bootstrap, topic_name, tmp_path / "lake"))


def test_retried_requests_never_duplicate_a_curated_row(ingest: Ingest, kafka_bootstrap: str, tmp_path: Path):
    batch = records(200)
    answers = [ingest.post(batch, headers={"Idempotency-Key": "day-1"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # A client that retries without a key (or after the window) sends the records again: Kafka then holds them
    # twice, and the curated table still one row each.
    assert ingest.post(batch[:50]).status_code == 200
    rows = curated_rows(kafka_bootstrap, ingest.topic, tmp_path / "lake")
    assert sorted(rows) == sorted((r["id"], r["date"], r["time"]) for r in batch)
