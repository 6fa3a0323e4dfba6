"""The dead-letter producer's own handling of a failed delivery: a fatal error leaves the idempotent producer unusable
(librdkafka refuses every later produce), so the consumer replaces it before the send is retried; a transient error
keeps the producer, whose next send may well succeed. Either way the send fails, so the batch is not committed.

A fatal error from a real broker needs a broken message sequence, which no test can provoke on demand, so this is a
unit test of the consumer's logic with a stand-in producer that reports the error through the delivery callback,
as librdkafka does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from services.consumer.dead_letters import DeadLetter, DeadLetterProducer
from services.consumer.retry import is_transient


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


def sender_with(producer: FailingProducer) -> tuple[DeadLetterProducer, list[FailingProducer]]:
    """A dead-letter producer whose first producer is `producer`; the ones it makes later are in the list."""
    made: list[FailingProducer] = []
    first = iter([producer])

    def new_producer() -> FailingProducer:
        for given in first:
            return given
        made.append(FailingProducer(None))
        return made[-1]

    return DeadLetterProducer("fitness-data.dlq", new_producer), made  # type: ignore[arg-type]


LETTER = DeadLetter(b"1503960366", b"not json", [("reason", b"not JSON")])


def test_a_fatal_delivery_error_replaces_the_dead_letter_producer() -> None:
    broken = FailingProducer(KafkaError(KafkaError._FATAL, "broken message sequence", fatal=True))
    sender, made = sender_with(broken)
    with pytest.raises(KafkaException) as raised:
        sender.send([LETTER])
    assert raised.value.args[0].fatal(), "the send fails with the fatal error, so the batch is not committed"
    assert is_transient(raised.value), "the send is retried, through the new producer"
    assert len(made) == 1 and sender.producer is made[0], "a fatal error must replace the dead-letter producer"

    sender.send([LETTER])  # the retry goes through the new producer
    assert sender.producer is made[0] and len(made) == 1


def test_a_transient_delivery_error_keeps_the_dead_letter_producer() -> None:
    slow = FailingProducer(KafkaError(KafkaError._MSG_TIMED_OUT, "no answer in time"))
    sender, made = sender_with(slow)
    with pytest.raises(KafkaException) as raised:
        sender.send([LETTER])
    assert raised.value.args[0].code() == KafkaError._MSG_TIMED_OUT
    assert sender.producer is slow and made == [], "a transient error must keep the producer"


def test_a_fatal_error_after_a_transient_one_still_replaces_the_producer() -> None:
    """The deliveries of one batch can fail in turn: a timeout, then the fatal error that breaks the producer."""
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT, "no answer in time")
    fatal = KafkaError(KafkaError._FATAL, "broken message sequence", fatal=True)
    broken = FailingProducer(None, errors=[timed_out, fatal])
    sender, made = sender_with(broken)
    with pytest.raises(KafkaException) as raised:
        sender.send([LETTER, LETTER])
    assert raised.value.args[0].fatal(), "the fatal error is the one that fails the send"
    assert len(made) == 1 and sender.producer is made[0], "a fatal error must replace the producer, whatever came first"
