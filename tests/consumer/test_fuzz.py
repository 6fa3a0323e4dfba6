"""The fuzz run: about 20,000 generated hostile messages through the real consumer (`python -m services.consumer`)
on a real broker, one partition. Every message is accounted for: each valid record in the lake exactly once, each
other message in the dead-letter topic once with its `source.offset`; the consumer never exits; the group's committed
offset reaches the end of the partition.

The generator is seeded and the seed printed; `FUZZ_SEED=<seed> pytest tests/consumer/test_fuzz.py` replays a run.
Which messages should land is decided by the schema's reason-finding path (`core.schema.decode`) and the event-time
window, so the run also proves that the consumer's hot paths (one message, and whole runs of them) agree with it.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.names import EARLIEST_EVENT_DATE
from core.schema import InvalidRecord, decode, encode, event_window, window_reason
from services.consumer.dead_letters import PRODUCER_MAX_BYTES
from services.consumer.records import REASON_MAX_CHARS
from services.consumer.sinks import LocalSink
from tests.consumer.conftest import committed_offsets, headers_of, lake_records, read_all, start_consumer, wait_until
from tests.consumer.fuzz_messages import FuzzMessage, Generator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 20_000
#: The topic's and the dead-letter topic's `max.message.bytes`: small, so that values near the limit are cheap to
#: make, and smaller for the dead letters, so that their values must be cut to what the broker says it takes.
TOPIC_LIMIT = 120_000
DEAD_LETTER_LIMIT = 60_000
DAY_S = 86_400


def _produce(bootstrap: str, topic: str, messages: list[FuzzMessage]) -> dict[int, FuzzMessage]:
    """Produce every message; the offset of each the broker took. Batches stay small, so that only a message that is
    itself too large is refused, and nothing is compressed, so that a size means what it says."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 16_384,
            "compression.type": "none",
            "message.max.bytes": PRODUCER_MAX_BYTES,
        }
    )
    stored: dict[int, FuzzMessage] = {}
    refused: list[tuple[FuzzMessage, str]] = []

    def delivered(message: FuzzMessage, error: object, report: Message) -> None:
        if error is not None:
            refused.append((message, str(error)))
        else:
            message.extra["timestamp_ms"] = report.timestamp()[1]
            stored[report.offset()] = message

    for message in messages:
        while True:
            try:
                producer.produce(
                    topic,
                    value=message.value,
                    key=message.key,
                    headers=message.headers,
                    on_delivery=lambda err, report, message=message: delivered(message, err, report),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0
    unexpected = [(m.kind, e) for m, e in refused if not m.oversized]
    assert not unexpected, unexpected[:3]
    assert all(m.oversized is False for m in stored.values()), "the broker took a message larger than its limit"
    assert any(m.oversized for m, _ in refused), "the run has messages just beyond the limit"
    return stored


def _expected_record(message: FuzzMessage) -> dict | None:
    """The lake line a message should become, or None when it should be dead-lettered."""
    if not message.value:
        return None
    try:
        record = decode(message.value)
    except InvalidRecord:
        return None
    window = event_window(EARLIEST_EVENT_DATE, message.extra["timestamp_ms"] / 1000, DAY_S)
    if window_reason(record["date"], *window) is not None:
        return None
    return orjson.loads(encode(record))


def test_no_generated_message_stops_or_fools_the_consumer(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    print(f"fuzz seed: {seed} (replay: FUZZ_SEED={seed})")
    replay = f"replay with FUZZ_SEED={seed}"
    started = time.monotonic()

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    dlq = f"{topic_name}.dlq"
    topics = [
        NewTopic(topic_name, 1, 1, config={"max.message.bytes": str(TOPIC_LIMIT)}),
        NewTopic(dlq, 1, 1, config={"max.message.bytes": str(DEAD_LETTER_LIMIT)}),
    ]
    for future in admin.create_topics(topics).values():
        future.result(30)
    messages = Generator(seed, TOPIC_LIMIT).messages(MESSAGES)
    stored = _produce(kafka_bootstrap, topic_name, messages)
    end = max(stored) + 1
    expected = {offset: _expected_record(m) for offset, m in stored.items()}
    for offset, record in expected.items():  # the generator and the schema agree where the generator is sure
        intent = stored[offset].intent
        assert intent == "either" or (record is not None) == (intent == "good"), (stored[offset].kind, replay)
    landing = Counter(orjson.dumps(r) for r in expected.values() if r is not None)
    dead = {offset for offset, r in expected.items() if r is None}
    assert len(landing) > MESSAGES // 4 and len(dead) > MESSAGES // 4, "both kinds, in numbers"

    lake = tmp_path / "lake"
    settings = {
        "CONSUMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CONSUMER_TOPIC": topic_name,
        "CONSUMER_GROUP_ID": f"group-{topic_name}",
        "CONSUMER_DLQ_TOPIC": dlq,
        "CONSUMER_LAKE_DIR": str(lake),
        "CONSUMER_FLUSH_INTERVAL_S": "1",
        "CONSUMER_MAX_RECORDS_PER_FILE": "3000",
        "CONSUMER_SESSION_TIMEOUT_MS": "10000",
        "CONSUMER_LOG_INTERVAL_S": "5",
    }
    log = tmp_path / "consumer.log"
    consumer = start_consumer(settings, log)
    try:

        def landed() -> bool:
            assert consumer.poll() is None, f"the consumer exited ({replay}):\n{log.read_text()[-3000:]}"
            try:
                return committed_offsets(kafka_bootstrap, f"group-{topic_name}", topic_name, 1) == [end]
            except KafkaException:  # the group's coordinator not there yet
                return False

        assert wait_until(landed, 150, step=1.0), f"the committed offset did not reach {end} ({replay})"
        assert consumer.poll() is None, f"the consumer exited ({replay})"
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(60)
    assert consumer.returncode == 0, log.read_text()[-3000:]

    found = Counter(orjson.dumps(orjson.loads(encode(r))) for r in lake_records(LocalSink(lake)))
    assert found == landing, f"each valid record exactly once in the lake ({replay}): {_diff(found, landing)}"

    letters = read_all(kafka_bootstrap, dlq, len(dead), idle_s=3.0)
    by_offset = Counter(int(headers_of(x)["source.offset"]) for x in letters)
    assert set(by_offset) == dead, f"the dead letters name exactly the bad messages ({replay})"
    assert max(by_offset.values()) == 1, f"each bad message has one dead letter ({replay})"
    for letter in letters:
        headers = headers_of(letter)
        source = stored[int(headers["source.offset"])]
        assert 0 < len(headers["reason"]) <= REASON_MAX_CHARS, (source.kind, replay)
        size = len(letter.value() or b"") + len(letter.key() or b"") + sum(len(k) + len(v) for k, v in headers.items())
        assert size < DEAD_LETTER_LIMIT, (source.kind, size, replay)
        if "key.sha256" not in headers:
            assert letter.key() == source.key, (source.kind, replay)
        value = source.value or b""
        if "truncated.from.bytes" in headers:
            assert headers["truncated.from.bytes"] == str(len(value)).encode() and value.startswith(letter.value())
        elif "value.sha256" not in headers:
            assert (letter.value() or b"") == value, (source.kind, replay)
    print(
        f"fuzz seed {seed}: {len(stored)} messages, {sum(landing.values())} landed, {len(dead)} dead letters, "
        f"{time.monotonic() - started:.0f} s"
    )


def _diff(found: Counter[bytes], expected: Counter[bytes]) -> str:
    extra = list((found - expected).elements())[:2]
    missing = list((expected - found).elements())[:2]
    return f"unexpected {extra}, missing {missing}"
