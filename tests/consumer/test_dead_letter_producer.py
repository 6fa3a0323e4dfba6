"""The consumer's own handling of a failed dead-letter delivery: a fatal error leaves the idempotent producer unusable
(librdkafka refuses every later produce), so the consumer replaces it before the send is retried; a transient error
keeps the producer, whose next send may well succeed.

A fatal error from a real broker needs a broken message sequence, which no test can provoke on demand, so this is a
unit test of the consumer's logic with a stand-in producer that reports the error through the delivery callback,
as librdkafka does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import LocalSink
from services.consumer.writer import DeadLetter, LakeWriter


class FailingProducer:
    """Accepts every produce and reports `error` for each in its delivery callback on flush (or the errors of
    `errors`, one per message in turn)."""

    def __init__(self, error: KafkaError | None, errors: list[KafkaError | None] | None = None):
        self.errors = errors or []
        self.error = error
        self.callbacks: list[Callable[[KafkaError | None, Any], None]] = []

    def produce(self, _topic: str, **kwargs: Any) -> None:
        self.callbacks.append(kwargs["on_delivery"])

    def poll(self, _timeout: float = 0) -> int:
        return 0

    def flush(self, _timeout: float = -1) -> int:
        for n, callback in enumerate(self.callbacks):
            callback(self.errors[n] if n < len(self.errors) else self.error, None)
        self.callbacks.clear()
        return 0


def writer_with(producer: FailingProducer, tmp_path: Path) -> tuple[LakeWriter, list[FailingProducer]]:
    writer = LakeWriter(
        ConsumerSettings(bootstrap_servers="127.0.0.1:9", topic="fitness-data", dlq_topic="fitness-data.dlq"),
        sink=LocalSink(tmp_path / "lake"),
    )
    writer._dlq = producer  # type: ignore[assignment]
    made: list[FailingProducer] = []

    def new_producer() -> FailingProducer:
        made.append(FailingProducer(None))
        return made[-1]

    writer._new_dlq_producer = new_producer  # type: ignore[method-assign]
    return writer, made


LETTER = DeadLetter(b"1503960366", b"not json", [("reason", b"not JSON")])


def test_a_fatal_delivery_error_replaces_the_dead_letter_producer(tmp_path: Path) -> None:
    broken = FailingProducer(KafkaError(KafkaError._FATAL, "broken message sequence", fatal=True))
    writer, made = writer_with(broken, tmp_path)
    with pytest.raises(KafkaException) as raised:
        writer._send_dead_letters([LETTER])
    assert raised.value.args[0].fatal(), "the send fails with the fatal error, so the batch is not committed"
    assert len(made) == 1 and writer._dlq is made[0], "a fatal error must replace the dead-letter producer"

    writer._send_dead_letters([LETTER])  # the retry goes through the new producer
    assert writer._dlq is made[0] and len(made) == 1


def test_a_transient_delivery_error_keeps_the_dead_letter_producer(tmp_path: Path) -> None:
    slow = FailingProducer(KafkaError(KafkaError._MSG_TIMED_OUT, "no answer in time"))
    writer, made = writer_with(slow, tmp_path)
    with pytest.raises(KafkaException) as raised:
        writer._send_dead_letters([LETTER])
    assert raised.value.args[0].code() == KafkaError._MSG_TIMED_OUT
    assert writer._dlq is slow and made == [], "a transient error must keep the producer"


def test_a_fatal_error_after_a_transient_one_still_replaces_the_producer(tmp_path: Path) -> None:
    """The deliveries of one batch can fail in turn: a timeout, then the fatal error that breaks the producer."""
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT, "no answer in time")
    fatal = KafkaError(KafkaError._FATAL, "broken message sequence", fatal=True)
    broken = FailingProducer(None, errors=[timed_out, fatal])
    writer, made = writer_with(broken, tmp_path)
    with pytest.raises(KafkaException) as raised:
        writer._send_dead_letters([LETTER, LETTER])
    assert raised.value.args[0].fatal(), "the fatal error is the one that fails the send"
    assert len(made) == 1 and writer._dlq is made[0], "a fatal error must replace the producer, whatever came first"
