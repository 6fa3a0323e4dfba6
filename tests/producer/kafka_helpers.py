"""Reading a topic back from the real broker, to check what the producer delivered."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from services.producer.settings import ProducerSettings


def producer_settings(bootstrap: str, topic: str, **values: Any) -> ProducerSettings:
    """The producer's settings for a test: these values over the defaults, never the `PRODUCER_*` environment."""
    return ProducerSettings.model_construct(bootstrap_servers=bootstrap, topic=topic, **values)


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """The messages in `topic`: the sum of its partitions' high watermarks (a fresh topic starts each at 0)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions)
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 120.0) -> list[Message]:
    """Every message of `topic`, from the start of each partition to its high watermark at call time."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        partitions = sorted(metadata.topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=1.0):
                if message.error():
                    raise RuntimeError(f"reading {topic}: {message.error()}")
                messages.append(message)
                if message.offset() >= ends[message.partition()] - 1:
                    pending.discard(message.partition())
        if pending:
            raise TimeoutError(f"partitions {sorted(pending)} of {topic} not read to their end in {timeout} s")
        return messages
    finally:
        consumer.close()


def partition_count(bootstrap: str, topic: str) -> int:
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=30)
    return len(metadata.topics[topic].partitions)
