"""What the consumer benchmarks share: their options, a broker for the run, and a topic filled with valid records."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.schema import FIELDS, encode


def backlog_options(doc: str, records: int, partitions: int) -> argparse.ArgumentParser:
    """The options of a benchmark on a backlog: its records and partitions, and the broker (`backlog` reads them)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--records", type=int, default=records)
    parser.add_argument("--partitions", type=int, default=partitions)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    return parser


@contextlib.contextmanager
def backlog(args: argparse.Namespace, name: str) -> Iterator[tuple[str, str, Path]]:
    """(bootstrap, topic, scratch folder): a fresh topic `bench-<name>-...` holding the backlog `args` asks for, on
    the broker it names or a local one, and a folder for the run; both go away after."""
    with broker(args.bootstrap) as bootstrap, tempfile.TemporaryDirectory() as scratch:
        topic = f"bench-{name}-{uuid.uuid4().hex[:8]}"
        fill_topic(bootstrap, topic, args.records, args.partitions)
        yield bootstrap, topic, Path(scratch)


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or a local one started (and stopped) for the run."""
    if bootstrap:
        yield bootstrap
        return
    from fitpipe.kafka import LocalBroker

    with tempfile.TemporaryDirectory() as home:
        local = LocalBroker(home)
        try:
            yield local.start()
        finally:
            local.stop()


def records(count: int, seed: int = 1, users: int = 33) -> Iterator[dict]:
    """Valid records (one per user-minute, users interleaved) built from the schema's field list."""
    rng = random.Random(seed)
    names = [f.name for f in FIELDS]
    for n in range(count):
        minute = n // users
        day = 12 + minute // 1440
        in_bed = rng.random() < 0.3
        values = {
            "id": 1_000_000_000 + n % users,
            "date": f"2016-04-{day % 28 + 1:02d}" if day > 28 else f"2016-04-{day:02d}",
            "time": f"{minute // 60 % 24:02d}:{minute % 60:02d}:00",
            "calories": round(rng.uniform(0.7, 10.0), 5),
            "intensity": rng.randrange(4),
            "mets": rng.randrange(10, 120),
            "steps": rng.randrange(0, 140),
            "sleep_value": float(rng.randrange(1, 4)) if in_bed else 0.0,
            "logid": 11_380_564_589 if in_bed else 0,
            "heartrate": rng.randrange(50, 170) if n % 7 else None,
        }
        yield {name: values[name] for name in names}


def fill_topic(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 50,
            "batch.size": 1_000_000,
        }
    )
    for record in records(count):
        while True:
            try:
                producer.produce(topic, encode(record), str(record["id"]).encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the benchmark topic was not filled")
    warm_group_coordinator(bootstrap, topic)


def warm_group_coordinator(bootstrap: str, topic: str) -> None:
    """Join and leave a throwaway group, so the timed consumer does not pay a fresh broker's one-off set-up of its
    group coordinator (about 3 s: creating and loading `__consumer_offsets`), which kcat, with no group, never pays."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"warm-up-{uuid.uuid4().hex[:8]}"})
    assigned: list[bool] = []
    consumer.subscribe([topic], on_assign=lambda _c, _p: assigned.append(True))
    try:
        for _ in range(600):
            if assigned:
                return
            consumer.poll(0.05)
        raise RuntimeError("the group coordinator did not answer within 30 s")
    finally:
        consumer.close()
