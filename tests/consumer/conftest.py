"""Fixtures for the consumer's tests: a moto S3 server reached over HTTP, topics, producing, reading the lake."""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.schema import Record, encode
from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import Sink
from services.consumer.writer import LakeWriter, Summary
from tests.conftest import REPO_ROOT, missing
from tests.strategies import sample_record


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def moto_server_command(port: int) -> list[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        missing("moto_server is not installed (pip install 'moto[server]')")
    return [exe, "-H", "127.0.0.1", "-p", str(port)]


def wait_for_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


def start_moto(port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        moto_server_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    wait_for_http(port)
    return process


@pytest.fixture(scope="session")
def aws_env() -> None:
    """Credentials and a region for boto3; moto accepts any."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    """A moto server process speaking S3 over HTTP, for the whole session."""
    port = free_port()
    process = start_moto(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    import boto3

    name = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def make_records(count: int, seed: int = 7, users: int = 20, days: int = 4) -> list[Record]:
    """`count` valid records of `users` users; each user's minutes are spread over `days` dates, interleaved, so a
    batch holds several event dates (one object per date)."""
    rng = random.Random(seed)
    ids = [1_000_000_000 + 7919 * u for u in range(users)]
    out = []
    for n in range(count):
        user = n % users
        minute = n // users
        in_bed = rng.random() < 0.2
        out.append(
            sample_record(
                id=ids[user],
                date=f"2016-04-{12 + rng.randrange(days):02d}",
                time=f"{minute // 60 % 24:02d}:{minute % 60:02d}:00",
                steps=rng.randrange(0, 120),
                intensity=rng.randrange(0, 4),
                calories=round(rng.uniform(0.5, 12.0), 4),
                sleep_value=float(rng.randrange(1, 4)) if in_bed else 0.0,
                logid=11_380_564_589 if in_bed else 0,
                heartrate=None if n % 11 == 0 else rng.randrange(50, 180),
            )
        )
    return out


def produce(
    bootstrap: str, topic: str, values: Iterable[bytes | None], keys: Iterable[bytes | None] | None = None
) -> int:
    """Produce raw messages with a plain idempotent producer; the number produced."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    errors: list[str] = []
    count = 0
    key_iter = iter(keys) if keys is not None else None
    for value in values:
        key = next(key_iter) if key_iter is not None else None
        while True:
            try:
                producer.produce(
                    topic, value=value, key=key, on_delivery=lambda err, _m: errors.append(str(err)) if err else None
                )
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return count


def produce_with_offsets(
    bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]]
) -> list[tuple[int, int]]:
    """Produce (key, value) messages; the (partition, offset) of each, in order, from the delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    reports: list[tuple[int, int] | str | None] = [None] * len(messages)

    def delivered(n: int, err: object, msg: Message) -> None:
        reports[n] = str(err) if err is not None else (msg.partition(), msg.offset())

    for n, (key, value) in enumerate(messages):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=lambda err, msg, n=n: delivered(n, err, msg))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    errors = [r for r in reports if not isinstance(r, tuple)]
    assert not errors, errors[:3]
    return reports  # type: ignore[return-value]


def produce_records(bootstrap: str, topic: str, records: list[Record]) -> None:
    produce(bootstrap, topic, (encode(r) for r in records), (str(r["id"]).encode() for r in records))


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offset of each partition (negative where it has none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def decode_object(key: str, data: bytes) -> list[Record]:
    if key.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pylist()
    if key.endswith(".gz"):
        data = gzip.decompress(data)
    assert data == b"" or data.endswith(b"\n"), f"{key}: last line not newline-terminated"
    return [orjson.loads(line) for line in data.splitlines()]


def lake_records(sink: Sink) -> list[Record]:
    records = []
    for key in sink.object_keys():
        for record in decode_object(key, sink.get(key)):
            assert key.split("/")[2] == f"dt={record['date']}", f"{key} holds a record of {record['date']}"
            records.append(record)
    return records


def identity_multiset(records: Iterable[Record]) -> Counter[tuple[int, str, str]]:
    return Counter((r["id"], r["date"], r["time"]) for r in records)


def settings_for(bootstrap: str, topic: str, **overrides: object) -> ConsumerSettings:
    """Settings for one test: its own topic, group and dead-letter topic; fast retries and logs."""
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "topic": topic,
        "group_id": f"group-{topic}",
        "dlq_topic": f"{topic}.dlq",
        "retry_initial_s": 0.2,
        "retry_max_s": 2.0,
        "log_interval_s": 2.0,
        "session_timeout_ms": 6000,
    }
    values.update(overrides)
    return ConsumerSettings(**values)


def consumer_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a `python -m services.consumer` process: exactly these `CONSUMER_*` settings, none
    inherited from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUMER_")}
    env.update(settings, PYTHONPATH=str(REPO_ROOT))
    return env


def start_consumer(settings: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m services.consumer` with these `CONSUMER_*` settings, its output (stdout and stderr) to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.consumer"],
            env=consumer_env(settings),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Background:
    """A LakeWriter running in a thread, stopped on exit."""

    def __init__(self, writer: LakeWriter):
        self.writer = writer
        self.summary: Summary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.summary = self.writer.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Background:
        self.thread.start()
        assert self.writer.ready.wait(60), "the consumer was not assigned its partitions within 60 s"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.writer.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the consumer did not stop within 60 s"
        if self.error is not None:
            raise self.error


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def read_all(bootstrap: str, topic: str, expected: int, idle_s: float = 5.0) -> list[Message]:
    """Every message of `topic` (waiting for at least `expected`, then `idle_s` of nothing more)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = [x for x in consumer.consume(500, timeout=0.5) if x.error() is None]
            if batch:
                found += batch
                quiet_since = time.monotonic()
            elif len(found) >= expected and time.monotonic() - quiet_since > idle_s:
                break
        return found
    finally:
        consumer.close()


def headers_of(letter: Message) -> dict[str, bytes]:
    return dict(letter.headers() or [])
