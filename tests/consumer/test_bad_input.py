"""Bad input: every kind of bad message goes to the dead-letter topic with its reason; every good record lands."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from services.common.schema import encode
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.bad_messages import bad_messages
from tests.consumer.conftest import (
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce,
    settings_for,
)

pytestmark = pytest.mark.integration


def _read_topic(bootstrap: str, topic: str, expected: int) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    messages: list = []
    idle = 0
    try:
        while len(messages) < expected and idle < 20:
            batch = [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]
            idle = 0 if batch else idle + 1
            messages += batch
        extra = [m for m in consumer.consume(500, timeout=1.0) if m.error() is None]
        return messages + extra
    finally:
        consumer.close()


def test_bad_messages_go_to_the_dead_letter_topic_and_good_ones_land(kafka_bootstrap: str, topic_name: str,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    corpus = bad_messages()
    assert len({kind for kind, _, _ in corpus}) >= 15
    good = make_records(3000, seed=3)
    # Mix: the bad messages at random places among the good ones, each with a key naming its kind.
    stream = [(str(r["id"]).encode(), encode(r)) for r in good]
    rng = random.Random(11)
    for kind, value, _ in corpus:
        stream.insert(rng.randrange(len(stream) + 1), (f"bad:{kind}".encode(), value))
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    produce(kafka_bootstrap, topic_name, (v for _, v in stream), (k for k, _ in stream))

    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=700)
    summary = LakeWriter(settings).run(until_caught_up=True)

    assert summary.dead_letters == len(corpus)
    assert summary.records_out == len(good)
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(good)

    letters = _read_topic(kafka_bootstrap, settings.dlq_topic, len(corpus))
    by_kind = {m.key().decode().removeprefix("bad:"): m for m in letters}
    assert len(letters) == len(corpus), "each bad message is dead-lettered once"
    for kind, value, fragment in corpus:
        letter = by_kind[kind]
        headers = {k: v.decode() for k, v in letter.headers()}
        assert (letter.value() or b"") == (value or b""), kind
        assert fragment in headers["reason"], (kind, headers["reason"])
        assert headers["source.topic"] == topic_name
        assert int(headers["source.partition"]) in (0, 1)
        assert int(headers["source.offset"]) >= 0
    positions = {(int(h["source.partition"]), int(h["source.offset"]))
                 for h in ({k: v.decode() for k, v in m.headers()} for m in letters)}  # fmt: skip
    assert len(positions) == len(corpus), "each dead letter names its own source offset"
