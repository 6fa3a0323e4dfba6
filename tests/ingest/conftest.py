"""The ingest service as it runs: `python -m services.ingest` (Granian) in a process of its own, against a real
broker, with a key store of its own."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fitpipe.kafka.broker import free_port
from services.ingest import keys
from tests.conftest import REPO_ROOT
from tests.strategies import sample_record

#: The users the test key may write, and one it may not.
USERS = (1503960366, 1624580081)
STRANGER = 8877689391


@dataclass
class Ingest:
    url: str
    key: str
    topic: str
    keys_file: Path
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def post(self, body: Any, *, gzipped: bool = False, headers: dict[str, str] | None = None, **kw: Any):
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        sent = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if gzipped:
            data = gzip.compress(data)
            sent["Content-Encoding"] = "gzip"
        return httpx.post(f"{self.url}/v1/records", content=data, headers={**sent, **(headers or {})}, timeout=30, **kw)

    def rss_kib(self) -> int:
        """The resident memory of the server's processes (the main one and its worker), in KiB."""
        return sum(_rss(pid) for pid in [self.process.pid, *_children(self.process.pid)])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def records(count: int, user: int = USERS[0], start_minute: int = 0) -> list[dict]:
    """`count` valid records of one user, a minute apart from `start_minute` minutes after 2016-04-12 00:00 (each a
    distinct (id, date, time))."""
    first = dt.datetime(2016, 4, 12)
    out = []
    for minute in range(start_minute, start_minute + count):
        at = first + dt.timedelta(minutes=minute)
        out.append(sample_record(id=user, date=at.date().isoformat(), time=at.strftime("%H:%M:00")))
    return out


def curated_rows(bootstrap: str, topic: str, lake: Path) -> list[tuple[int, str, str]]:
    """The topic landed by the consumer (`fitpipe consume --until-caught-up`) and folded into the curated table
    (`fitpipe compact`): its rows' (id, date, time)."""
    from fitpipe.compact import compact_lake, settings_for
    from services.compactor.table import IDENTIFIER, open_catalog

    group = f"check-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "fitpipe", "consume", "--bootstrap", bootstrap, "--topic", topic]
    command += ["--lake", str(lake), "--group", group, "--dlq-topic", f"{topic}.dlq", "--until-caught-up"]
    command += ["--flush-interval", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUMER_")}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    compact_lake(lake)
    table = open_catalog(settings_for(lake)).load_table(IDENTIFIER)
    rows = table.scan(selected_fields=("id", "date", "time")).to_arrow().to_pylist()
    return [(r["id"], r["date"], r["time"]) for r in rows]


def start_ingest(bootstrap: str, topic: str, tmp: Path, users: tuple[int, ...] = USERS, **settings: Any) -> Ingest:
    keys_file = tmp / "keys.json"
    key, _ = keys.create(keys_file, "test-device", list(users))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env |= {
        "INGEST_BOOTSTRAP_SERVERS": bootstrap,
        "INGEST_TOPIC": topic,
        "INGEST_PORT": str(port),
        "INGEST_KEYS_FILE": str(keys_file),
        **{f"INGEST_{k.upper()}": str(v) for k, v in settings.items()},
    }
    log = tmp / "ingest.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.ingest"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    service = Ingest(url, key, topic, keys_file, process, log, env)
    wait_healthy(service)
    return service


def wait_healthy(service: Ingest, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the ingest service exited: {service.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the ingest service did not answer in {timeout} s: {service.log.read_text()[-2000:]}")


def stop_ingest(service: Ingest) -> int:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            return service.process.wait(30)
        except subprocess.TimeoutExpired:
            service.process.kill()
    return service.process.wait()


@pytest.fixture
def ingest(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> Iterator[Ingest]:
    service = start_ingest(kafka_bootstrap, topic_name, tmp_path, rate_per_client=1000, rate_burst=1000)
    try:
        yield service
    finally:
        stop_ingest(service)
