"""The consumer's own reading of a commit's result: librdkafka reports a refusal either by raising from `commit()`
(what a broker here does for a one-partition commit, see `test_kafka_access.py`) or as an error on a partition of the
list it returns. Either way the batch must not count as committed, so the commit is retried.

No broker returns a per-partition error on demand, so this is a unit test of the consumer's logic with a stand-in
consumer that returns the list as librdkafka would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter


@dataclass
class Committed:
    topic: str
    partition: int
    offset: int
    error: KafkaError | None


class StandInConsumer:
    def __init__(self, error: KafkaError | None):
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def commit(self, offsets: list[Any], asynchronous: bool) -> list[Committed]:
        self.calls.append({"offsets": [(tp.partition, tp.offset) for tp in offsets], "asynchronous": asynchronous})
        return [Committed(tp.topic, tp.partition, tp.offset, self.error) for tp in offsets]


def writer_with(consumer: StandInConsumer, tmp_path: Path) -> LakeWriter:
    writer = LakeWriter(
        ConsumerSettings(bootstrap_servers="127.0.0.1:9", topic="fitness-data", dlq_topic="fitness-data.dlq"),
        sink=LocalSink(tmp_path / "lake"),
    )
    writer._consumer = consumer  # type: ignore[assignment]
    return writer


def test_a_partition_refused_in_the_commit_result_raises(tmp_path: Path) -> None:
    refused = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)
    consumer = StandInConsumer(refused)
    with pytest.raises(KafkaException) as raised:
        writer_with(consumer, tmp_path)._commit(3, 120)
    assert raised.value.args[0] == refused
    assert consumer.calls == [{"offsets": [(3, 120)], "asynchronous": False}]


def test_a_commit_with_no_error_returns(tmp_path: Path) -> None:
    consumer = StandInConsumer(None)
    writer_with(consumer, tmp_path)._commit(0, 10)
    assert consumer.calls == [{"offsets": [(0, 10)], "asynchronous": False}]
