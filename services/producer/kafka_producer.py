"""Stream records into Kafka: acks=all, idempotent, compressed, keyed by user id, never dropping a failure.

Records go to librdkafka a chunk at a time (`map` drives `Producer.produce` over thousands of records), and
delivery reports come back only for failures (`delivery.report.only.error`): the callback counts them by reason and
latches the first. A message librdkafka refuses to queue counts the same way. The loop checks the latch before every
chunk: once it is set, production stops, what was handed over is flushed, and `DeliveryFailed` is raised with the
summary. A message still queued when the flush gives up counts as a failure too, so `delivered + errors == records`
always holds.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import itertools
import operator
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.schema import Record, encode
from services.common.kafka_logs import client_logging, last_failure
from services.common.logs import EventLog
from services.common.stop import StopRequest
from services.producer.metrics import ProducerMetrics
from services.producer.settings import COMPRESSIONS, ProducerSettings

#: How often the progress display is refreshed, in records.
_PROGRESS_EVERY: Final = 16384
#: Without a terminal, a progress line goes to the log this often (seconds).
_LOG_PROGRESS_S: Final = 10.0

#: The logger of the producer's events; librdkafka's own lines go to `services.producer.librdkafka`.
SERVICE_LOGGER: Final = "services.producer"
_log = EventLog(f"{SERVICE_LOGGER}.kafka")


class KafkaUnavailable(RuntimeError):
    """The brokers did not answer, or refused to create the topic."""


class DeliveryFailed(RuntimeError):
    """Some records were not delivered. `summary` says how many, and the first error."""

    def __init__(self, summary: ProduceSummary):
        super().__init__(
            f"{summary.errors} of {summary.records} records were not delivered to {summary.topic!r}: "
            f"{summary.first_error}"
        )
        self.summary = summary


@dataclass
class ProduceSummary:
    """What a run produced. `records` were handed to Kafka; each was either delivered or is an error."""

    topic: str
    records: int = 0
    delivered: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stopped: bool = False  # a SIGTERM or Ctrl-C ended the run early (everything produced was still flushed)
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def fields(self) -> dict[str, Any]:
        return {**asdict(self), "rate": round(self.rate), "seconds": round(self.seconds, 3)}


def producer_config(bootstrap: str, compression: str = "lz4", **overrides: Any) -> dict[str, Any]:
    """The client settings: safe delivery (acks=all, idempotence) and batching sized for throughput."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": compression,
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "delivery.report.only.error": True,
        **client_logging(SERVICE_LOGGER),
        **overrides,
    }


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, timeout: float = 15.0, security: Mapping[str, Any] | None = None
) -> bool:
    """Create `topic` with `partitions` unless it exists. True when it was created."""
    config = {"bootstrap.servers": bootstrap, **client_logging(SERVICE_LOGGER), **(security or {})}
    log = _log.bind(topic=topic, bootstrap=bootstrap)
    # The client is destroyed on the way out of the block, after its futures are done.
    with AdminClient(config) as admin:
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            reason = last_failure(SERVICE_LOGGER, admin) or exc.args[0].str()
            raise KafkaUnavailable(
                f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s ({reason})"
            ) from exc
        existing = metadata.topics.get(topic)
        if existing is not None and existing.error is None:
            if len(existing.partitions) != partitions:
                log.warning(
                    "topic exists with other partitions", partitions=len(existing.partitions), wanted=partitions
                )
            return False
        future = admin.create_topics([NewTopic(topic, num_partitions=partitions)], operation_timeout=timeout)[topic]
        try:
            future.result(timeout=timeout + 5)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise KafkaUnavailable(f"could not create topic {topic!r} on {bootstrap}: {error.str()}") from exc
    log.info("topic created", partitions=partitions)
    return True


class _Deliveries:
    """The delivery callback: counts failures (in all, and by reason) and keeps the first. The loop's polls and
    the loop itself (for a record librdkafka refuses) count, under a lock (a caller may poll from another thread)."""

    def __init__(self, by_reason: dict[str, int] | None = None) -> None:
        self.errors = 0
        self.by_reason = {} if by_reason is None else by_reason
        self.first: KafkaError | None = None
        self._lock = threading.Lock()

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            key = (message.key() or b"").decode(errors="replace")
            self._count(error, topic=message.topic(), partition=message.partition(), key=key)

    def refused(self, error: KafkaError, topic: str, key: bytes) -> None:
        """A message librdkafka did not queue: a delivery error like any other."""
        self._count(error, topic=topic, key=key.decode(errors="replace"))

    def _count(self, error: KafkaError, **where: Any) -> None:
        with self._lock:
            self.errors += 1
            self.by_reason[error.name()] = self.by_reason.get(error.name(), 0) + 1
            first = self.first is None
            if first:
                self.first = error
        if first:
            _log.error("delivery failed", **where, error=error.str())

    def fatal(self, error: KafkaError) -> None:
        """librdkafka's error callback: a fatal error (idempotence broken) fails the run; others are logged."""
        if error.fatal():
            if self.first is None:
                self.first = error
            _log.error("fatal producer error", error=error.str())
        else:
            _log.debug("client error", error=error.str())


class _Progress:
    """A rich progress bar on a terminal; a log line every few seconds otherwise."""

    def __init__(self, enabled: bool, total: int | None, topic: str):
        self.enabled = enabled
        self.total = total
        self.topic = topic
        self._bar: Any = None
        self._task: Any = None
        self._next_log = time.monotonic() + _LOG_PROGRESS_S
        self._started = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]producing to {task.fields[topic]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>9,.0f} rec/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("produce", total=self.total, topic=self.topic, rate=0.0)
        return self

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self._bar is not None:
            rate = done / max(now - self._started, 1e-9)
            self._bar.update(self._task, completed=done, rate=rate)
        elif now >= self._next_log:
            self._next_log = now + _LOG_PROGRESS_S
            _log.info(
                "producing",
                topic=self.topic,
                records=done,
                total=self.total,
                rate=round(done / max(now - self._started, 1e-9)),
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _event_time(record: Record) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{record['date']}T{record['time']}")


def _paced(
    records: Iterable[Record],
    speed: float,
    wait: Callable[[float], Any],
    stop: StopRequest,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Record]:
    """Release each record when its event time comes: the first at once, then `speed` event seconds per second."""
    started: float | None = None
    first: dt.datetime | None = None
    last_stamp: tuple[str, str] | None = None
    for record in records:
        stamp = (record["date"], record["time"])
        if stamp != last_stamp:
            last_stamp = stamp
            event = _event_time(record)
            if started is None or first is None:
                started, first = clock(), event
            due = started + (event - first).total_seconds() / speed
            while not stop.requested and (left := due - clock()) > 0:
                wait(min(left, 0.25))
            if stop.requested:
                return
        yield record


def _encoded(records: Iterable[Record]) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs: the user id's digits, and the record as `schema.encode` writes it."""
    keys: dict[int, bytes] = {}
    for record in records:
        uid = record["id"]
        key = keys.get(uid)
        if key is None:
            key = keys[uid] = str(uid).encode()
        yield key, encode(record)


Pairs = Iterable[tuple[bytes, bytes]]
#: Records handed over together: their keys and their values, two sequences in the order they are to be produced.
Chunk = tuple[Sequence[bytes], Sequence[bytes]]
#: A chunk with the partition of each record, or None to leave them to the client's partitioner.
Placed = tuple[Sequence[bytes], Sequence[bytes], Sequence[int] | None]
#: Records per chunk handed over: large enough that the per-call cost vanishes, small enough that a stop request or
#: a delivery failure is noticed within a few milliseconds.
CHUNK: Final = 4096


def _chunks(pairs: Pairs, size: int = CHUNK) -> Iterator[Chunk]:
    """`pairs` as chunks of at most `size`, in order."""
    iterator = iter(pairs)
    while batch := list(itertools.islice(iterator, size)):
        keys, values = zip(*batch, strict=True)
        yield keys, values


def produce(
    records: Iterable[Record], settings: ProducerSettings, *, speed: float | None = None, **options: Any
) -> ProduceSummary:
    """Produce `records` as `settings` say (brokers, topic, compression, progress), keyed by user id, and flush.
    Returns the summary.

    `speed` paces the records by event time (live mode: 1.0 is real time); None sends them as fast as possible
    (backfill). `options` are `produce_chunks`'s. Raises `DeliveryFailed` when any record was not delivered,
    `KafkaUnavailable` when the brokers do not answer."""

    def chunks(producer: Producer, stop: StopRequest) -> Iterable[Chunk]:
        if speed:  # one record at a time, each when its minute comes
            return (([key], [value]) for key, value in _encoded(_paced(records, speed, producer.poll, stop)))
        return _chunks(_encoded(records))

    return _run(chunks, settings, mode=f"live x{speed:g}" if speed else "backfill", **options)


def produce_encoded(pairs: Pairs, settings: ProducerSettings, **options: Any) -> ProduceSummary:
    """`produce` for records already encoded as (key, value) pairs, as fast as possible (backfill)."""
    return produce_chunks(_chunks(pairs), settings, **options)


def produce_chunks(chunks: Iterable[Chunk], settings: ProducerSettings, **options: Any) -> ProduceSummary:
    """Produce chunks of encoded keys and values (a simulated day at a time, say) as fast as possible.

    `options`: `total` (records expected, for the progress display), `stop` (installed as the SIGTERM/SIGINT handler
    by the caller, or here when None and on the main thread: it ends the run early, and what was produced until
    then is flushed), `metrics` (the run's figures), `flush_timeout`,
    `create_topic`, and `config` (librdkafka settings over the producer's own)."""
    return _run(lambda producer, stop: chunks, settings, mode="backfill", **options)


def _run(
    chunks_for: Callable[[Producer, StopRequest], Iterable[Chunk]],
    settings: ProducerSettings,
    *,
    mode: str,
    total: int | None = None,
    stop: StopRequest | None = None,
    metrics: ProducerMetrics | None = None,
    flush_timeout: float = 120.0,
    create_topic: bool = True,
    config: Mapping[str, Any] | None = None,
) -> ProduceSummary:
    stop_request = stop or StopRequest()
    live = metrics or ProducerMetrics()
    deliveries = _Deliveries(live.errors_by_reason)
    topic = settings.topic
    security = settings.kafka_security()
    progress = sys.stderr.isatty() if settings.progress is None else settings.progress
    log = _log.bind(topic=topic)
    with contextlib.ExitStack() as stack:
        if stop is None:
            stack.enter_context(stop_request.installed())
        if create_topic:
            ensure_topic(settings.bootstrap_servers, topic, settings.partitions, security=security)
        client_config = producer_config(
            settings.bootstrap_servers,
            settings.compression,
            on_delivery=deliveries,
            error_cb=deliveries.fatal,
            **(live.client_config() if metrics else {}),
            **security,
            **(config or {}),
        )
        log.info("producing", bootstrap=settings.bootstrap_servers, mode=mode, total=total)
        # The client closes on the way out, flushing what an error left queued; the loop flushes itself first.
        with Producer(client_config) as producer:
            summary = _loop(
                chunks_for(producer, stop_request),
                producer,
                deliveries,
                live,
                stop_request,
                topic=topic,
                progress=progress,
                total=total,
                flush_timeout=flush_timeout,
                room=client_config["queue.buffering.max.messages"],
            )
    if summary.errors or summary.first_error:
        log.error("produce failed", **summary.fields())
        raise DeliveryFailed(summary)
    log.info("produced", **{k: v for k, v in summary.fields().items() if k != "topic"})
    return summary


class _PartitionGrouping:
    """Orders a chunk's records by the partition each key goes to, keeping the order within each partition (and so
    each key's). librdkafka then appends run after run to one partition's queue instead of switching queues at
    almost every record: the records of a day come user by user, minute by minute, so consecutive keys mostly go to
    different partitions. On the local broker this cut the producer's CPU per record by about a third.

    The partition of a key is the client's own default (`consistent_random`: CRC-32 of the key modulo the topic's
    partitions; a test checks that the client agrees), and each record is handed over with it, so that the client
    skips its partitioner: a key's records land where the client itself would put them.

    The loop groups each chunk it is given before cutting it to the queue's size, so a backfill's day is grouped
    whole; and as every day has the same keys in the same order, the order found for the first day serves the rest."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self._of: dict[bytes, int] = {}
        # The last keys grouped, and how: a backfill hands over every day with the same keys in the same order.
        self._keys: list[bytes] = []
        self._grouped_keys: list[bytes] = []
        self._partitions: list[int] = []
        self._pick: Callable[[Sequence[bytes]], Sequence[bytes]] = list

    @classmethod
    def for_topic(cls, producer: Producer, topic: str, timeout: float = 10.0) -> _PartitionGrouping | None:
        """The grouping for the topic's partitions as the metadata gives them; None when it cannot say."""
        try:
            found = producer.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException:
            return None
        if found is None or found.error is not None or len(found.partitions) < 2:
            return None
        return cls(len(found.partitions))

    def partition(self, key: bytes) -> int:
        partition = self._of.get(key)
        if partition is None:
            partition = self._of[key] = zlib.crc32(key) % self.partitions
        return partition

    def __call__(self, chunk: Chunk) -> Placed:
        """The chunk's keys and values in their new order, and the partition of each."""
        keys, values = chunk
        if len(keys) < 2:
            return keys, values, list(map(self.partition, keys))
        if keys != self._keys:  # other keys than the last chunk's (equal keys compare by identity, at C speed)
            partitions = list(map(self.partition, keys))
            order = sorted(range(len(keys)), key=partitions.__getitem__)  # stable: each partition's order is kept
            self._keys = list(keys)
            self._grouped_keys = [keys[i] for i in order]
            self._partitions = [partitions[i] for i in order]
            self._pick = operator.itemgetter(*order)
        return self._grouped_keys, self._pick(values), self._partitions


def _hand_over(producer: Producer, topic: str, chunk: Placed, room: int, deliveries: _Deliveries) -> int:
    """Queue `chunk` in order, one `produce` call per record driven by `map` (no Python step per record), waiting
    first until librdkafka's queue has room for all of it; each record to its partition when the chunk gives them
    (the client then skips its own partitioner), else where the client's partitioner puts it. Should the queue be
    full all the same, the records from the refused one on are queued again once there is room, so a key's records
    keep their order; a record librdkafka refuses for another reason is a delivery error, counted by its reason.
    Returns the bytes of the values."""
    keys, values, partitions = chunk
    while len(producer) + len(keys) > room:
        producer.poll(0.05)
    produce = functools.partial(producer.produce, topic)
    at = 0
    while at < len(keys):
        pending = iter(values[at:] if at else values)
        try:
            placed = () if partitions is None else (partitions[at:] if at else partitions,)
            collections.deque(map(produce, pending, keys[at:] if at else keys, *placed), maxlen=0)
            break
        except BufferError:
            at = len(values) - operator.length_hint(pending) - 1
            producer.poll(0.05)
        except KafkaException as exc:
            at = len(values) - operator.length_hint(pending) - 1
            deliveries.refused(exc.args[0], topic, keys[at])
            at += 1
    return sum(map(len, values))


def _loop(
    chunks: Iterable[Chunk],
    producer: Producer,
    deliveries: _Deliveries,
    live: ProducerMetrics,
    stop: StopRequest,
    *,
    topic: str,
    progress: bool,
    total: int | None,
    flush_timeout: float,
    room: int,
) -> ProduceSummary:
    """The hot loop: hand each chunk to librdkafka (after a stop request or a failed delivery, no more), serve its
    events after each, flush at the end. `live` gets the counts after every chunk.

    The events are served here, on the loop's thread, with `poll(0)` after each chunk. The client reports every
    message's delivery through its callback, taking the interpreter's lock once per message (it skips only the
    Python call for a success under `delivery.report.only.error`); from a thread of their own, those reports fought
    the loop for the lock, and the backfill ran at three quarters of the speed with a sixth more CPU per record."""
    count = 0
    size = 0
    shown = 0
    step = max(1, min(CHUNK, room))  # a chunk never exceeds what the queue holds
    grouping = _PartitionGrouping.for_topic(producer, topic)
    started = time.perf_counter()
    with _Progress(progress, total, topic) as bar:
        for given in chunks:
            keys, values, partitions = (*given, None) if grouping is None else grouping(given)
            for at in range(0, len(keys), step):
                if stop.requested or deliveries.first is not None:
                    break
                chunk: Placed = (keys, values, partitions)
                if len(keys) > step:
                    end = at + step
                    chunk = (keys[at:end], values[at:end], None if partitions is None else partitions[at:end])
                size += _hand_over(producer, topic, chunk, room, deliveries)
                producer.poll(0)  # the delivery reports of what went before: failures counted, messages freed
                count += len(chunk[0])
                live.records, live.bytes = count, size
                if count - shown >= _PROGRESS_EVERY:
                    shown = count
                    bar.update(count)
            else:
                continue
            break
        close = getattr(chunks, "close", None)
        if close is not None:  # a generator (a simulation thread, say) learns that no more is wanted
            close()
        bar.update(count)
        live.records, live.bytes = count, size
        if stop.requested:
            _log.info("stopping: flushing what was produced", topic=topic, signal=stop.signal_name, records=count)
        remaining = producer.flush(flush_timeout)
    summary = ProduceSummary(topic=topic, records=count, bytes=size, stopped=stop.requested)
    summary.seconds = time.perf_counter() - started
    summary.errors = deliveries.errors + remaining
    if remaining:
        deliveries.by_reason["_MSG_TIMED_OUT"] = deliveries.by_reason.get("_MSG_TIMED_OUT", 0) + remaining
    summary.delivered = count - deliveries.errors - remaining
    if deliveries.first is not None:
        summary.first_error = deliveries.first.str()
    elif remaining:
        summary.first_error = f"{remaining} records still queued after {flush_timeout:.0f} s of flushing"
    return summary


def format_summary(summary: ProduceSummary) -> str:
    """One human line: records, rate, errors."""
    text = (
        f"{summary.records:,} records to {summary.topic!r} in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f} records/s, {summary.bytes / max(summary.records, 1):.0f} B each), "
        f"{summary.delivered:,} delivered, {summary.errors:,} errors"
    )
    return text + (" (stopped early)" if summary.stopped else "")


__all__ = [
    "DeliveryFailed",
    "KafkaUnavailable",
    "ProduceSummary",
    "StopRequest",
    "ensure_topic",
    "format_summary",
    "produce",
    "produce_chunks",
    "produce_encoded",
    "producer_config",
]
