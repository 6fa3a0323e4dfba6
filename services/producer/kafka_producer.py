"""Stream records into Kafka: acks=all, idempotent, compressed, keyed by user id, never dropping a failure.

Delivery reports come back only for failures (`delivery.report.only.error`): the callback counts them and latches
the first. The loop checks the latch before every produce: once it is set, production stops, what was handed over
is flushed, and `DeliveryFailed` is raised with the summary. A message still queued when the flush gives up counts
as a failure too, so `delivered + errors == records` always holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from services.common.kafka_logs import client_logging, last_failure
from services.common.logs import EventLog
from services.common.names import TOPIC
from services.common.schema import Record, encode
from services.producer.metrics import ProducerMetrics

COMPRESSIONS: Final = ("lz4", "zstd", "gzip", "snappy", "none")
#: How often the loop serves librdkafka's callbacks, and the progress display is refreshed, in records.
_POLL_EVERY: Final = 1024
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
    admin = AdminClient({"bootstrap.servers": bootstrap, **client_logging(SERVICE_LOGGER), **(security or {})})
    log = _log.bind(topic=topic, bootstrap=bootstrap)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        reason = last_failure(SERVICE_LOGGER, admin) or exc.args[0].str()
        raise KafkaUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s ({reason})") from exc
    existing = metadata.topics.get(topic)
    if existing is not None and existing.error is None:
        if len(existing.partitions) != partitions:
            log.warning("topic exists with other partitions", partitions=len(existing.partitions), wanted=partitions)
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


class StopRequest:
    """SIGTERM and SIGINT (Ctrl-C) ask the run to stop; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Install the handlers for the duration (only the main thread can; elsewhere, do nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _Deliveries:
    """The delivery callback: counts failures (in all, and by reason) and keeps the first."""

    def __init__(self, by_reason: dict[str, int] | None = None) -> None:
        self.errors = 0
        self.by_reason = {} if by_reason is None else by_reason
        self.first: KafkaError | None = None

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self.errors += 1
            self.by_reason[error.name()] = self.by_reason.get(error.name(), 0) + 1
            if self.first is None:
                self.first = error
                _log.error(
                    "delivery failed",
                    topic=message.topic(),
                    partition=message.partition(),
                    key=(message.key() or b"").decode(errors="replace"),
                    error=error.str(),
                )

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
            _log.info("producing", topic=self.topic, records=done, total=self.total,
                      rate=round(done / max(now - self._started, 1e-9)))  # fmt: skip

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


def produce(
    records: Iterable[Record],
    bootstrap: str,
    topic: str = TOPIC,
    partitions: int = 3,
    progress: bool = True,
    *,
    total: int | None = None,
    speed: float | None = None,
    compression: str = "lz4",
    create_topic: bool = True,
    stop: StopRequest | None = None,
    flush_timeout: float = 120.0,
    config: dict[str, Any] | None = None,
    security: Mapping[str, Any] | None = None,
    metrics: ProducerMetrics | None = None,
) -> ProduceSummary:
    """Produce `records` to `topic`, keyed by user id, and flush. Returns the summary.

    `speed` paces the records by event time (live mode: 1.0 is real time); None sends them as fast as possible
    (backfill). `stop` (installed as the SIGTERM/SIGINT handler by the caller, or here when None and on the main
    thread) ends the run early; what was produced until then is flushed. Raises `DeliveryFailed` when any record
    was not delivered, `KafkaUnavailable` when the brokers do not answer. `metrics` receives the run's figures.
    """

    def pairs(producer: Producer, stop_request: StopRequest) -> Pairs:
        return _encoded(_paced(records, speed, producer.poll, stop_request) if speed else records)

    mode = f"live x{speed:g}" if speed else "backfill"
    return _run(pairs, bootstrap, topic, partitions, progress, total, mode, compression, create_topic, stop,
                flush_timeout, config, security, metrics)  # fmt: skip


def produce_encoded(
    pairs: Pairs,
    bootstrap: str,
    topic: str = TOPIC,
    partitions: int = 3,
    progress: bool = True,
    *,
    total: int | None = None,
    compression: str = "lz4",
    create_topic: bool = True,
    stop: StopRequest | None = None,
    flush_timeout: float = 120.0,
    config: dict[str, Any] | None = None,
    security: Mapping[str, Any] | None = None,
    metrics: ProducerMetrics | None = None,
) -> ProduceSummary:
    """`produce` for records already encoded as (key, value) pairs, as fast as possible (backfill)."""
    return _run(lambda producer, stop_request: pairs, bootstrap, topic, partitions, progress, total, "backfill",
                compression, create_topic, stop, flush_timeout, config, security, metrics)  # fmt: skip


def _run(
    pairs_for: Callable[[Producer, StopRequest], Pairs],
    bootstrap: str,
    topic: str,
    partitions: int,
    progress: bool,
    total: int | None,
    mode: str,
    compression: str,
    create_topic: bool,
    stop: StopRequest | None,
    flush_timeout: float,
    config: dict[str, Any] | None,
    security: Mapping[str, Any] | None,
    metrics: ProducerMetrics | None = None,
) -> ProduceSummary:
    stop_request = stop or StopRequest()
    live = metrics or ProducerMetrics()
    deliveries = _Deliveries(live.errors_by_reason)
    log = _log.bind(topic=topic)
    with contextlib.ExitStack() as stack:
        if stop is None:
            stack.enter_context(stop_request.installed())
        if create_topic:
            ensure_topic(bootstrap, topic, partitions, security=security)
        producer = Producer(
            producer_config(
                bootstrap, compression, on_delivery=deliveries, error_cb=deliveries.fatal,
                **(security or {}), **(live.client_config() if metrics else {}), **(config or {}),
            )
        )  # fmt: skip
        log.info("producing", bootstrap=bootstrap, mode=mode, total=total)
        # Paced records are few: their counts reach the metrics at once; a backfill's at each poll.
        report_every = 1 if mode.startswith("live") else _POLL_EVERY
        summary = _loop(pairs_for(producer, stop_request), producer, deliveries, topic, progress, total,
                        stop_request, flush_timeout, live, report_every)  # fmt: skip
    if summary.errors or summary.first_error:
        log.error("produce failed", **summary.fields())
        raise DeliveryFailed(summary)
    log.info("produced", **{k: v for k, v in summary.fields().items() if k != "topic"})
    return summary


def _loop(
    pairs: Pairs,
    producer: Producer,
    deliveries: _Deliveries,
    topic: str,
    progress: bool,
    total: int | None,
    stop: StopRequest,
    flush_timeout: float,
    live: ProducerMetrics,
    report_every: int = _POLL_EVERY,
) -> ProduceSummary:
    """The hot loop: hand every pair to librdkafka, serve its callbacks now and then, flush at the end. `live`
    gets the counts every `report_every` records (a divisor of 1,024)."""
    produce_one = producer.produce
    poll = producer.poll
    count = 0
    size = 0
    started = time.perf_counter()
    with _Progress(progress, total, topic) as bar:
        for key, value in pairs:
            if stop.requested or deliveries.first is not None:
                break
            try:
                produce_one(topic, value, key)
            except BufferError:  # the local queue is full: let librdkafka send some, then try again
                while True:
                    poll(0.05)
                    try:
                        produce_one(topic, value, key)
                        break
                    except BufferError:
                        continue
            count += 1
            size += len(value)
            if count % report_every == 0:
                live.records, live.bytes = count, size
                if count % _POLL_EVERY == 0:
                    poll(0)
                    if count % _PROGRESS_EVERY == 0:
                        bar.update(count)
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
    "produce_encoded",
    "producer_config",
]
