"""10,000 records through the real broker and back: every one arrives exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.schema import decode, encode
from tests.strategies import sample_record

pytestmark = pytest.mark.integration


def _records(n: int) -> list[dict]:
    users = [1503960366 + k for k in range(10)]
    return [
        sample_record(
            id=users[i % 10],
            time=f"{(i // 600) % 24:02d}:{(i // 10) % 60:02d}:00",
            steps=i % 200,
            date=f"2016-04-{12 + i // 6000:02d}",
        )
        for i in range(n)
    ]


def test_ten_thousand_records_arrive_exactly_once(kafka_bootstrap: str, topic_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])[topic_name].result(30)

    sent = _records(10_000)
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    for record in sent:
        producer.produce(
            topic_name,
            key=str(record["id"]).encode(),
            value=encode(record),
            on_delivery=lambda err, _msg: err and errors.append(str(err)),
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{topic_name}-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic_name])
    received: list[dict] = []
    try:
        idle = 0
        while len(received) < len(sent) or idle < 3:
            messages = consumer.consume(1000, timeout=1.0)
            idle = 0 if messages else idle + 1
            if idle > 30:
                break
            for message in messages:
                assert message.error() is None, message.error()
                record = decode(message.value())
                assert message.key() == str(record["id"]).encode()
                received.append(record)
    finally:
        consumer.close()

    def key(r: dict) -> tuple:
        return (r["id"], r["date"], r["time"], r["steps"])

    assert len(received) == len(sent)
    assert Counter(map(key, received)) == Counter(map(key, sent))
