"""Bad input: every kind of bad message goes to the dead-letter topic with its reason; every good record lands."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from core.schema import encode
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.bad_messages import bad_messages
from tests.consumer.conftest import (
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_with_offsets,
    settings_for,
)

pytestmark = pytest.mark.integration

#: A dead letter is cut to this many bytes (the dead-letter producer's messages must stay under 1 MB).
DEAD_LETTER_LIMIT = 900_000


def _read_topic(bootstrap: str, topic: str, expected: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
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


def test_bad_messages_go_to_the_dead_letter_topic_and_good_ones_land(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    corpus = bad_messages()
    assert len({kind for kind, _, _ in corpus}) >= 15
    good = make_records(3000, seed=3)
    # Mix: the bad messages at random places among the good ones, each with a key naming its kind but one, which
    # has no key.
    stream: list[tuple[str | None, bytes | None, bytes | None]] = [
        (None, str(r["id"]).encode(), encode(r)) for r in good
    ]
    rng = random.Random(11)
    for kind, value, _ in corpus:
        key = None if kind == "JSON null" else f"bad:{kind}".encode()
        stream.insert(rng.randrange(len(stream) + 1), (kind, key, value))
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    positions = produce_with_offsets(kafka_bootstrap, topic_name, [(k, v) for _, k, v in stream])
    # Where each bad message was stored, from the producer's delivery reports.
    sent = {
        position: (kind, key, value) for position, (kind, key, value) in zip(positions, stream, strict=True) if kind
    }
    assert len(sent) == len(corpus)

    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=700)
    summary = LakeWriter(settings).run(until_caught_up=True)

    assert summary.dead_letters == len(corpus)
    assert summary.records_out == len(good)
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(good)
    keys = list(LocalSink(tmp_path).object_keys())
    assert summary.files_written == len(keys), "with no crash, each object is written once"
    assert summary.bytes_written == sum(len(LocalSink(tmp_path).get(key)) for key in keys)

    letters = _read_topic(kafka_bootstrap, settings.dlq_topic, len(corpus))
    assert len(letters) == len(corpus), "each bad message is dead-lettered once"
    fragments = {kind: fragment for kind, _, fragment in corpus}
    found = set()
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers()}
        position = (int(headers["source.partition"]), int(headers["source.offset"]))
        assert position in sent, f"a dead letter names {position}, where no bad message is"
        kind, key, value = sent[position]
        found.add(position)
        assert letter.key() == key, kind
        assert headers["source.topic"] == topic_name
        assert fragments[kind] in headers["reason"], (kind, headers["reason"])
        if value is not None and len(value) > DEAD_LETTER_LIMIT:
            assert len(value) > 900_000 + 1000, "the corpus's huge message is well over the limit"
            assert letter.value() == value[:DEAD_LETTER_LIMIT], kind
            assert headers["truncated.from.bytes"] == str(len(value))
        else:
            assert (letter.value() or b"") == (value or b""), kind
            assert "truncated.from.bytes" not in headers, kind
    assert found == set(sent), "each bad message has its own dead letter, naming its exact source offset"
    assert any(len(v or b"") > DEAD_LETTER_LIMIT for _, _, v in sent.values()), "the corpus has a message to cut"
    assert any(len(v or b"") == DEAD_LETTER_LIMIT for _, _, v in sent.values()), "and one just within the limit"


class SmallQueueWriter(LakeWriter):
    """The real writer, whose dead-letter producer queues one message at a time: every send after the first of a
    batch finds the queue full."""

    def _new_dlq_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "queue.buffering.max.messages": 1,
            }
        )


def test_dead_letters_wait_for_room_in_a_full_producer_queue(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    bad = [(f"bad-{n}".encode(), f"not a record {n}".encode()) for n in range(6)]
    good = make_records(4, seed=5)
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    positions = produce_with_offsets(
        kafka_bootstrap, topic_name, bad + [(str(r["id"]).encode(), encode(r)) for r in good]
    )
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=100)
    writer = SmallQueueWriter(settings)
    running = threading.Thread(target=writer.run, kwargs={"until_caught_up": True}, daemon=True)
    running.start()
    running.join(60)
    if running.is_alive():  # stuck retrying: stop it as a second signal would
        writer.force_stop.set()
        writer.stop_event.set()
        running.join(30)
    assert writer.summary.storage_retries == 0, "a full queue is waited out, not failed and sent again"
    assert writer.summary.dead_letters == len(bad)
    letters = _read_topic(kafka_bootstrap, settings.dlq_topic, len(bad))
    assert [(m.key(), m.value()) for m in letters] == bad, "each dead letter once, in order"
    assert [dict(m.headers())["source.offset"] for m in letters] == [str(o).encode() for _, o in positions[:6]]
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(good)
