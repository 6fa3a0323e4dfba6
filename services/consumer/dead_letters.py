"""The dead-letter path: a message that is not a record becomes a dead letter (its key, its value cut to a size the
topic takes, and headers naming the reasons and the source offset), and the letters of a batch are sent before the
batch's offsets are committed.

A dead letter always fits. Its headers are bounded (`records.reasons_of`); its value, and a huge key, are cut so that
they, the headers and Kafka's overhead fit the dead-letter topic's `max.message.bytes`, read from the broker, and
the producer's `message.max.bytes`. Should the broker still refuse one as too large, that is a permanent answer,
handled once: the letter is sent again without its key and value, their lengths and SHA-256 in headers.

The producer is idempotent. A fatal delivery error leaves it unusable (librdkafka refuses every later produce), so
it is replaced before the send fails; the caller retries the send, through the new producer.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from core.schema import InvalidRecord
from services.consumer.records import reason_kind, reasons_of

#: A dead letter's value is never longer than this, whatever the topic takes.
DEAD_LETTER_MAX_BYTES: Final = 900_000
#: The dead-letter producer's `message.max.bytes`: librdkafka refuses a larger message before sending it.
PRODUCER_MAX_BYTES: Final = 1_000_000
#: What a record batch of one record adds to its key, value and headers (61 bytes of batch header, a record's
#: varints), with room to spare; and a margin for lz4, which can make incompressible data a little longer.
_OVERHEAD_BYTES: Final = 1024
_COMPRESSION_MARGIN: Final = 128  # 1/128 of the limit
#: The dead-letter producer's `batch.size`.
BATCH_BYTES: Final = 16_384


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    kind: str = "invalid_fields"
    #: Set once the broker refused it as too large: from then on it is sent without its key and value.
    refused: bool = field(default=False, compare=False)


def dead_letter(message: Message, exc: InvalidRecord) -> DeadLetter:
    """The dead letter of a message that is not a record: what it holds, why, and where it came from. The value is
    cut when sent (`fit`), to the dead-letter topic's limit."""
    headers = [
        ("reason", reasons_of(exc).encode()),
        ("source.topic", message.topic().encode()),
        ("source.partition", str(message.partition()).encode()),
        ("source.offset", str(message.offset()).encode()),
    ]
    return DeadLetter(message.key(), message.value(), headers, reason_kind(exc))


def _digest(name: str, data: bytes) -> list[tuple[str, bytes]]:
    return [(f"{name}.length", str(len(data)).encode()), (f"{name}.sha256", hashlib.sha256(data).hexdigest().encode())]


def fit(letter: DeadLetter, limit: int) -> DeadLetter:
    """The letter as sent to a topic whose messages may be `limit` bytes: its value cut (header
    `truncated.from.bytes`), its key dropped should it alone not fit (headers `key.length`, `key.sha256`)."""
    if letter.refused:
        return stripped(letter)
    room = min(limit, PRODUCER_MAX_BYTES) - _OVERHEAD_BYTES - limit // _COMPRESSION_MARGIN
    key, value, headers = letter.key, letter.value, list(letter.headers)
    room -= sum(len(name) + len(data) for name, data in headers) + 200  # and the headers this may add
    if key is not None and len(key) > room // 2:
        headers += _digest("key", key)
        key = None
    room -= len(key or b"")
    cut = max(0, min(room, DEAD_LETTER_MAX_BYTES))
    if value is not None and len(value) > cut:
        headers.append(("truncated.from.bytes", str(len(value)).encode()))
        value = value[:cut]
    if key is letter.key and value is letter.value:
        return letter
    return DeadLetter(key, value, headers, letter.kind)


def stripped(letter: DeadLetter) -> DeadLetter:
    """The letter without its key and value, their lengths and SHA-256 in headers."""
    headers = list(letter.headers)
    if letter.key is not None:
        headers += _digest("key", letter.key)
    headers += _digest("value", letter.value or b"")
    return DeadLetter(None, None, headers, letter.kind, refused=True)


class DeadLettersNotSent(KafkaException):
    """Some dead letters of a batch were not acknowledged. Always worth retrying: a producer left unusable by a
    fatal error is replaced before this is raised, and a letter refused as too large goes without its value."""


class DeadLetterRefused(Exception):
    """The broker refused a dead letter even without its key and value: its headers alone are too large for the
    topic, a setup the operator must fix (the topic's `max.message.bytes`)."""


def producer_config(**client: Any) -> dict[str, Any]:
    """The dead-letter producer's settings over `client`'s (the brokers, logging and sign-in)."""
    return {
        **client,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": PRODUCER_MAX_BYTES,
        # The broker checks a whole record batch against the topic's max.message.bytes: batches of small letters
        # stay small (a letter larger than this goes alone), so letters that each fit never add up to a refusal.
        "batch.size": BATCH_BYTES,
    }


class TopicLimit:
    """A topic's `max.message.bytes` as the broker states it; the broker's `message.max.bytes` (every new topic's)
    while the topic does not exist yet. Raises `KafkaException` when the broker does not answer (a transient error:
    the send that asked is retried). A client not allowed to read configurations (no `DESCRIBE_CONFIGS` right) gets
    the producer's own limit, with one warning: a letter the topic then refuses as too large still goes, without
    its value."""

    _DENIED: Final = frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED})

    def __init__(self, config: dict[str, Any], topic: str, on_denied: Callable[[str], None] | None = None):
        self._admin = AdminClient(config)
        self.topic = topic
        self._on_denied = on_denied

    def __call__(self, timeout: float = 30.0) -> int:
        try:
            return self._read(timeout)
        except concurrent.futures.TimeoutError:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "no answer to DescribeConfigs")) from None
        except KafkaException as exc:
            if exc.args[0].code() not in self._DENIED:
                raise
            if self._on_denied is not None:
                self._on_denied(exc.args[0].str())
            return PRODUCER_MAX_BYTES

    def _read(self, timeout: float) -> int:
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        try:
            entries = self._admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
            return int(entries["max.message.bytes"].value)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
        broker = self._admin.describe_cluster(request_timeout=timeout).result(timeout).nodes[0].id
        resource = ConfigResource(ResourceType.BROKER, str(broker))
        entries = self._admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
        return int(entries["message.max.bytes"].value)


class DeadLetterProducer:
    """Sends a batch's dead letters to `topic` and waits until the broker has them all. `size_limit` reads the
    topic's `max.message.bytes` from the broker, once, and again after a refusal as too large; without it only
    the producer's own limit applies."""

    def __init__(self, topic: str, new_producer: Callable[[], Producer], size_limit: Callable[[], int] | None = None):
        self.topic = topic
        self._new_producer = new_producer
        self.producer = new_producer()
        self._size_limit = size_limit
        self._limit: int | None = None
        self._errors: list[KafkaError] = []
        self._too_large: list[DeadLetter] = []

    @property
    def limit(self) -> int:
        if self._limit is None:
            self._limit = self._size_limit() if self._size_limit is not None else PRODUCER_MAX_BYTES
        return self._limit

    def send(self, letters: list[DeadLetter]) -> None:
        """Send every letter, waiting for room when the producer's queue is full, and flush. A letter refused as too
        large is sent once more, without its key and value. Raises `DeadLettersNotSent` unless the broker
        acknowledged them all."""
        self._errors = []
        self._too_large = []
        limit = self.limit
        for letter in letters:
            self._produce(letter, fit(letter, limit))
        self._flush()
        if self._too_large:
            self._limit = None  # read again: the topic's limit may have been lowered
            again, self._too_large = self._too_large, []
            for letter in again:  # each alone in its batch
                letter.refused = True
                self._produce(letter, stripped(letter))
                self._flush()
            if self._too_large:
                raise DeadLetterRefused(
                    f"topic {self.topic!r} refuses a dead letter of {len(self._too_large[0].headers)} headers and no"
                    " value as too large; raise its max.message.bytes"
                )
        if self._errors:
            first = next((e for e in self._errors if e.fatal()), self._errors[0])  # a fatal one if any
            if first.fatal():
                self.producer = self._new_producer()
            raise DeadLettersNotSent(first)

    def _produce(self, letter: DeadLetter, sent: DeadLetter) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    value=sent.value,
                    key=sent.key,
                    headers=sent.headers,
                    on_delivery=lambda error, _message, letter=letter: self._on_delivery(letter, error),
                )
                return
            except BufferError:
                self.producer.poll(0.1)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                    raise
                self._too_large.append(letter)
                return

    def _flush(self) -> None:
        remaining = self.producer.flush(30)
        if remaining:
            raise DeadLettersNotSent(
                KafkaError(KafkaError._MSG_TIMED_OUT, f"{remaining} dead letters not acknowledged")
            )

    def _on_delivery(self, letter: DeadLetter, error: KafkaError | None) -> None:
        if error is None:
            return
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            self._too_large.append(letter)
        else:
            self._errors.append(error)

    def __enter__(self) -> DeadLetterProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Deliver what is still queued, for at most 10 s: a broker that is down must not hold the stop up."""
        self.producer.flush(10)
