"""The dead-letter path: a message that is not a record becomes a dead letter (its key, its value cut to a size the
topic takes, and headers naming the reasons and the source offset), and the letters of a batch are sent before the
batch's offsets are committed.

The producer is idempotent. A fatal delivery error leaves it unusable (librdkafka refuses every later produce), so
it is replaced before the send fails; the caller retries the send, through the new producer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.schema import InvalidRecord
from services.consumer.records import reason_kind, reasons_of

#: A dead letter larger than this is cut to it (the DLQ producer's message.max.bytes is 1,000,000).
DEAD_LETTER_MAX_BYTES = 900_000


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    kind: str = "invalid_fields"


def dead_letter(message: Message, exc: InvalidRecord) -> DeadLetter:
    """The dead letter of a message that is not a record: what it holds, why, and where it came from."""
    value = message.value()
    headers = [
        ("reason", reasons_of(exc).encode()),
        ("source.topic", message.topic().encode()),
        ("source.partition", str(message.partition()).encode()),
        ("source.offset", str(message.offset()).encode()),
    ]
    if value is not None and len(value) > DEAD_LETTER_MAX_BYTES:
        headers.append(("truncated.from.bytes", str(len(value)).encode()))
        value = value[:DEAD_LETTER_MAX_BYTES]
    return DeadLetter(message.key(), value, headers, reason_kind(exc))


class DeadLettersNotSent(KafkaException):
    """Some dead letters of a batch were not acknowledged. Always worth retrying: a producer left unusable by a
    fatal error is replaced before this is raised."""


def producer_config(**client: Any) -> dict[str, Any]:
    """The dead-letter producer's settings over `client`'s (the brokers, logging and sign-in)."""
    return {
        **client,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }


class DeadLetterProducer:
    """Sends a batch's dead letters to `topic` and waits until the broker has them all."""

    def __init__(self, topic: str, new_producer: Callable[[], Producer]):
        self.topic = topic
        self._new_producer = new_producer
        self.producer = new_producer()
        self._errors: list[KafkaError] = []

    def send(self, letters: list[DeadLetter]) -> None:
        """Send every letter, waiting for room when the producer's queue is full, and flush. Raises
        `DeadLettersNotSent` unless the broker acknowledged them all."""
        producer = self.producer
        self._errors = []
        for letter in letters:
            while True:
                try:
                    producer.produce(
                        self.topic,
                        value=letter.value,
                        key=letter.key,
                        headers=letter.headers,
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
        remaining = producer.flush(30)
        if remaining:
            raise DeadLettersNotSent(
                KafkaError(KafkaError._MSG_TIMED_OUT, f"{remaining} dead letters not acknowledged")
            )
        if self._errors:
            first = next((e for e in self._errors if e.fatal()), self._errors[0])  # a fatal one if any
            if first.fatal():
                self.producer = self._new_producer()
            raise DeadLettersNotSent(first)

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error)

    def __enter__(self) -> DeadLetterProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Deliver what is still queued, for at most 10 s: a broker that is down must not hold the stop up."""
        self.producer.flush(10)
