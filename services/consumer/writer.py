"""The lake writer: consume, validate, batch per partition, write durably, then commit.

Exactly-once rests on three rules (the argument is in docs/consumer.md):

1. A batch is a contiguous offset range of one partition. It is written as one object per event date, all named
   with that range and the topic's incarnation (`naming.object_key`), and only then are its dead letters flushed
   and `end + 1` committed. One batch per partition is open at a time, so at most one written-but-uncommitted
   range exists per partition and incarnation.
2. On assignment the lake is reconciled with the committed offset: every range of the current incarnation found at
   or beyond it was written (perhaps only some of its dates) but not committed. Those ranges are read again with
   exactly the same boundaries and written again under the same names: the objects already there get the same
   bytes, which the sink accepts without writing, and the missing ones are created; then they are committed.
   Ranges of other incarnations (a topic or cluster created anew) are never read, rewritten or deleted.
3. Nothing is committed unless everything before it is written. Transient storage and Kafka errors are retried
   forever with backoff (`retry.py`); meanwhile the partitions are paused and the consumer keeps polling, so it stays
   in the group. A put that would change an object's bytes is never retried: the lake is append-only, and the
   consumer stops. So does any other error that is not transient.

The parts: `batch.py` holds a partition's state and open batch, `recovery.py` decides where an assigned partition
resumes, `dead_letters.py` sends the dead letters, `retry.py` says what is retried. This module keeps the loop and
the checkpoint of each batch: its objects, then its dead letters, then its commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from core.schema import RECORD_QUOTES, InvalidRecord, decode_struct, encode_record_into, encode_records, event_window
from services.common.kafka_logs import client_logging, last_failure
from services.common.metrics import LibrdkafkaStats
from services.common.stop import StopRequest
from services.consumer import metrics, recovery
from services.consumer.batch import Batch, PartitionState
from services.consumer.dead_letters import DeadLetter, DeadLetterProducer, TopicLimit, dead_letter, producer_config
from services.consumer.formats import Format, format_for_ext, get_format
from services.consumer.incarnation import Incarnations, NoTopicId
from services.consumer.logs import LOGGER_NAME, log
from services.consumer.naming import BatchRange, object_key
from services.consumer.records import to_line
from services.consumer.retry import Backoff, is_operational, retry
from services.consumer.settings import MIB, ConsumerSettings
from services.consumer.sinks import ObjectConflict, Sink, batch_ranges, make_sink

T = TypeVar("T")
_CONSUME_BATCH = 2000
_POLL_TIMEOUT_S = 0.2
#: The fewest messages of one partition landed together by `LakeWriter._land_run`; shorter runs go one by one.
_MIN_RUN = 16
#: A message's Kafka timestamp in ms, from `Message.timestamp()`'s (type, ms).
_STAMP_MS = itemgetter(1)


class ConsumerError(Exception):
    """A problem with the setup (no such topic, no broker) that the operator must fix."""


class KafkaUnreachable(ConsumerError):
    """No broker answered at the bootstrap address."""


class Abandoned(Exception):
    """A batch is left unwritten: its partition went to another consumer, or a second stop signal came."""


@dataclass
class Summary:
    records_in: int = 0  # messages read from Kafka (good and bad)
    records_out: int = 0  # records landed in the lake and committed
    dead_letters: int = 0
    files_written: int = 0
    bytes_written: int = 0
    batches_replayed: int = 0
    storage_retries: int = 0
    seconds: float = 0.0
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)  # by `records.reason_kind`
    newest_event: float | None = None  # event time of the newest record landed, Unix seconds (UTC)
    last_commit: float | None = None  # Unix time of the last successful commit


class LakeWriter:
    """Lands one topic in the lake. `run()` blocks until stopped (signal or `stop_event`) or caught up."""

    def __init__(
        self,
        settings: ConsumerSettings,
        sink: Sink | None = None,
        stop_event: threading.Event | None = None,
        progress: Callable[[Summary, int], None] | None = None,
    ):
        self.settings = settings
        self.topic = settings.topic
        self.sink = sink or make_sink(settings)
        #: zlib compresses the open batches' lines on this thread while the loop reads on.
        self._compress = ThreadPoolExecutor(1, thread_name_prefix="lake-gzip")
        self.format: Format = get_format(settings.format, settings.gzip_level, self._compress)
        self.stop_event = stop_event or threading.Event()
        self.force_stop = threading.Event()
        #: Set once partitions are assigned and reconciled with the lake.
        self.ready = threading.Event()
        self.summary = Summary()
        self._progress = progress
        self._parts: dict[int, PartitionState] = {}
        self._pending: deque[Message] = deque()
        self._buffered = 0
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterProducer | None = None
        self._backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._incarnations: Incarnations | None = None
        self.stats = LibrdkafkaStats()
        self.metrics_server: metrics.MetricsServer | None = None
        # The event-time window (`_window_of`): a message whose Kafka timestamp is at least `_latest_from_ms` may be
        # dated up to `_latest`, whatever its exact window; the hot path needs nothing more.
        self._earliest = settings.earliest_event_date.isoformat()
        self._skew_ms = round(settings.max_event_skew_s * 1000)
        self._latest = ""
        self._latest_from_ms = 2**63

    # -- Kafka clients -------------------------------------------------------------------------------------------
    def _consumer_config(self) -> dict[str, Any]:
        s = self.settings
        config: dict[str, Any] = {
            **self._client_config(),
            "group.id": s.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # Eager assignment: on_assign reconciles and then assigns each partition at the offset it chose.
            "partition.assignment.strategy": "range",
            "max.poll.interval.ms": s.max_poll_interval_ms,
            "session.timeout.ms": s.session_timeout_ms,
            "allow.auto.create.topics": False,
            # Bound librdkafka's prefetch, whatever the backlog.
            "queued.max.messages.kbytes": s.queued_max_kbytes,
            "fetch.max.bytes": min(8 * MIB, s.queued_max_kbytes * 1024),
            "max.partition.fetch.bytes": MIB,
            # When the prefetch queue is full, fetch again as soon as it has room: librdkafka's default waits a
            # whole second, in which the loop empties the queue and then idles.
            "fetch.queue.backoff.ms": 10,
            # A watermark query waits behind the connection's long-polling fetch: keep that wait short, so the
            # idle flush and the caught-up check answer quickly.
            "fetch.wait.max.ms": 100,
        }
        if s.group_instance_id:
            config["group.instance.id"] = s.group_instance_id
        if s.metrics_port is not None:
            config.update(self.stats.config(s.statistics_interval_ms))
        return config

    def _client_config(self) -> dict[str, Any]:
        """What every Kafka client of the consumer is given: the brokers, the log bridge, the sign-in."""
        s = self.settings
        return {"bootstrap.servers": s.bootstrap_servers, **client_logging(LOGGER_NAME), **s.kafka_security()}

    def _new_dlq_producer(self) -> Producer:
        return Producer(producer_config(**self._client_config()))

    @property
    def consumer(self) -> Consumer:
        assert self._consumer is not None
        return self._consumer

    @property
    def dlq(self) -> DeadLetterProducer:
        assert self._dlq is not None
        return self._dlq

    # -- run -----------------------------------------------------------------------------------------------------
    def run(self, until_caught_up: bool = False) -> Summary:
        """Consume until stopped; with `until_caught_up`, return once every assigned partition is landed up to its
        high watermark and committed."""
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            # Closed in the reverse order: the consumer first (it leaves the group), the dead-letter producer last.
            stack.callback(self._close_metrics)
            stack.enter_context(StopRequest(on_signal=self._on_stop_signal).installed())
            stack.callback(self._compress.shutdown, wait=True, cancel_futures=True)
            stack.callback(setattr, self, "_incarnations", None)  # once no request of its is pending any more
            # Read at the first dead letter; a broker that does not answer fails that send, which is retried.
            limit = TopicLimit(self._client_config(), self.settings.dlq_topic, self._on_limit_denied)
            self._dlq = stack.enter_context(DeadLetterProducer(self.settings.dlq_topic, self._new_dlq_producer, limit))
            self._consumer = stack.enter_context(Consumer(self._consumer_config()))
            self._incarnations = Incarnations(self._client_config())
            self.metrics_server = metrics.serve(self)
            try:
                self._consume(until_caught_up)
            finally:
                self.summary.seconds = time.monotonic() - started
        log.info("consumer stopped", **self.summary.__dict__)
        return self.summary

    def _on_limit_denied(self, error: str) -> None:
        log.warning(
            "cannot read the dead-letter topic's max.message.bytes; cutting dead letters to the producer's limit",
            topic=self.settings.dlq_topic,
            error=error,
        )

    def _close_metrics(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.close()

    def _on_stop_signal(self, name: str, repeated: bool) -> None:
        """The first SIGTERM or SIGINT stops the loop, which lands the open batches; a second abandons them."""
        if repeated:
            self.force_stop.set()
        self.stop_event.set()
        log.info("stop requested", signal=name)

    def _consume(self, until_caught_up: bool) -> None:
        log.info(
            "consumer starting",
            topic=self.topic,
            group=self.settings.group_id,
            lake=self.sink.description,
            format=self.settings.format,
        )
        try:
            self._check_topic(until_caught_up)
            self.consumer.subscribe(
                [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
            )
            self._loop(until_caught_up)
            self._flush_all()
        except Abandoned:
            log.warning("stopped without writing the open batches; they will be read again")

    def _check_topic(self, required: bool) -> None:
        try:
            metadata = self.consumer.list_topics(self.topic, timeout=15)
        except KafkaException as exc:
            reason = last_failure(LOGGER_NAME, self.consumer) or exc.args[0].str()
            raise KafkaUnreachable(f"no Kafka broker answers at {self.settings.bootstrap_servers} ({reason})") from exc
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            if required:
                raise ConsumerError(f"topic {self.topic!r} does not exist on {self.settings.bootstrap_servers}")
            log.warning("topic does not exist yet; waiting for it", topic=self.topic)

    def _loop(self, until_caught_up: bool) -> None:
        s = self.settings
        next_log = time.monotonic() + s.log_interval_s
        next_progress = next_check = 0.0
        while not self.stop_event.is_set():
            drained = False
            if not self._pending:
                messages = self.consumer.consume(num_messages=_CONSUME_BATCH, timeout=_POLL_TIMEOUT_S)
                drained = len(messages) < _CONSUME_BATCH
                self._pending.extend(messages)
            self._drain()
            now = time.monotonic()
            self._flush_due(now)
            if now >= next_log:
                self._log_progress()
                next_log = now + s.log_interval_s
            if self._progress is not None and now >= next_progress:
                self._progress(self.summary, self._lag())
                next_progress = now + 0.25
            if until_caught_up and drained and now >= next_check:
                next_check = now + 0.5
                if self._caught_up():
                    return

    # -- messages ------------------------------------------------------------------------------------------------
    def _drain(self) -> None:
        """Handle the pending messages. The common case (a valid record for an open, ordinary batch) is inlined:
        it runs once per record, at 100,000 records/s."""
        pending = self._pending
        parts = self._parts
        summary = self.summary
        max_records = self.settings.max_records_per_file
        max_bytes = self.settings.max_bytes_per_file
        earliest = self._earliest
        one_by_one = 0  # messages to handle one at a time before a run is tried again
        while pending:
            if one_by_one <= 0:
                landed = self._land_run()
                if landed > 0:
                    continue
                one_by_one = -landed
            one_by_one -= 1
            message = pending.popleft()
            if message.error() is not None:
                self._handle(message)
                continue
            state = parts.get(message.partition())
            if state is None:
                continue
            batch = state.batch
            offset = message.offset()
            if batch is None or batch.forced is not None or offset != state.position:
                self._handle(message)
                continue
            value = message.value()
            try:
                record = decode_struct(value)  # decoded and checked in one C call
            except Exception:  # not a record, whatever the decoder raised: `_handle` finds every reason
                self._handle(message)
                continue
            dt = record.date
            if dt > self._latest or dt < earliest or message.timestamp()[1] < self._latest_from_ms:
                self._handle(message)  # outside the window the hot path knows: `_handle` finds the message's own
                continue
            # Batch.add, inlined, with the line encoded straight into the date's buffer: the calls alone cost a
            # few per cent of the records/s. Keep the two alike.
            lines = batch.lines.get(dt)
            fresh = lines is None
            if fresh:
                lines = batch.lines[dt] = batch.new_lines()
            buf = lines.buf
            before = len(buf)
            encode_record_into(record, buf, -1)
            buf += b"\n"
            size = len(buf) - before
            if size != len(value) + 1 and value.count(b'"') != RECORD_QUOTES:  # a duplicate key, as in `_land_run`
                del buf[before:]
                if fresh:
                    del batch.lines[dt]
                self._handle(message)
                continue
            if batch.bytes + size > max_bytes:  # cut before the line, so a file never exceeds the limit
                del buf[before:]
                if fresh:
                    del batch.lines[dt]
                self._flush(state)
                self._handle(message)
                continue
            if record.time > lines.newest:
                lines.newest = record.time
            if len(buf) >= lines.spill_at:
                lines.spill()
            summary.records_in += 1
            batch.records += 1
            batch.bytes += size
            self._buffered += size
            batch.end = offset
            state.position = offset + 1
            if batch.records >= max_records or batch.bytes >= max_bytes:
                self._flush(state)

    def _land_run(self) -> int:
        """Land the longest run at the head of the pending messages that needs no decision per message: one
        partition's next offsets, in its open ordinary batch, every one a valid record, all fitting in the batch.
        Each step runs over the whole run in C (decoding, encoding the lines of each date at once), and the batch is
        cut where `_drain` would cut it, one message at a time. Returns how many messages it landed, or minus how
        many to handle one at a time (a run too short, an error, a bad record, a batch to cut within the run)."""
        pending = self._pending
        first = pending[0]
        state = self._parts.get(first.partition())
        if state is None or first.error() is not None:
            return -1
        batch = state.batch
        start = first.offset()
        if batch is None or batch.forced is not None or start != state.position:
            return -1
        size = min(len(pending), self.settings.max_records_per_file - batch.records)
        if size < _MIN_RUN:
            return -max(size, 1)
        run = list(islice(pending, size))
        partition = state.partition
        partitions = [m.partition() for m in run]
        if partitions[-1] != partition:
            size = partitions.index(next(p for p in partitions if p != partition))
            if size < _MIN_RUN:
                return -size
            run = run[:size]
        # One partition's offsets only grow: consecutive exactly when the last is `size - 1` past the first.
        if run[-1].offset() - start != size - 1 or [m.error() for m in run].count(None) != size:
            return -size
        values = list(map(Message.value, run))
        try:
            records = list(map(decode_struct, values))
        except Exception:
            return -size  # a bad record among them: `_drain` finds it and sends it to the dead letters
        if min(map(_STAMP_MS, map(Message.timestamp, run))) < self._latest_from_ms:
            return -size  # `_drain` takes them one by one, and `_handle` finds each one's window
        dates = [r.date for r in records]
        room = self.settings.max_bytes_per_file - batch.bytes
        while True:
            if dates.count(dates[0]) == size:
                by_date = {dates[0]: records}
            else:
                by_date = {}
                for day, record in zip(dates, records, strict=True):
                    by_date.setdefault(day, []).append(record)
            if min(by_date) < self._earliest or max(by_date) > self._latest:
                return -size  # a date outside the window: `_handle` dead-letters it
            encoded = [(day, group, encode_records(group)) for day, group in by_date.items()]
            added = sum(len(data) for _day, _group, data in encoded)
            if added <= room:
                break
            # The batch is cut within the run: land the part that surely fits, by the run's mean line, and leave
            # the last lines before the cut to `_drain`, which cuts before the line that would pass the limit.
            size = size * room // added - 1
            if size < _MIN_RUN:
                return -_MIN_RUN
            records = records[:size]
            dates = dates[:size]
            values = values[:size]
        # A duplicate key (`schema.RECORD_QUOTES`): the run's quotes are always counted. Comparing the run's total
        # length with its lines' is no proof: messages shorter than their lines (`1e-5` for `0.00001`) can make up
        # for the bytes a duplicate key adds to another.
        if b"".join(values).count(b'"') != RECORD_QUOTES * size:
            return -size
        for day, group, data in encoded:
            lines = batch.lines.get(day)
            if lines is None:
                lines = batch.lines[day] = batch.new_lines()
            lines.buf += data
            newest = max([r.time for r in group])
            if newest > lines.newest:
                lines.newest = newest
            if len(lines.buf) >= lines.spill_at:
                lines.spill()
        for _ in range(size):
            pending.popleft()
        self.summary.records_in += size
        batch.records += size
        batch.bytes += added
        self._buffered += added
        batch.end = start + size - 1
        state.position = start + size
        if batch.records >= self.settings.max_records_per_file or batch.bytes >= self.settings.max_bytes_per_file:
            self._flush(state)
        return size

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:  # never end-of-partition: `enable.partition.eof` is off
            if error.fatal():
                raise KafkaException(error)
            log.warning("kafka error", error=str(error), topic=message.topic(), partition=message.partition())
            return
        state = self._parts.get(message.partition())
        if state is None:
            return  # fetched before the partition was taken away
        offset = message.offset()
        if state.position is not None and offset < state.position:
            return
        batch = state.batch
        if batch is not None and batch.forced is not None and offset > batch.forced.end:
            self._flush(state)  # the replayed range ended on an offset that holds no message
            batch = state.batch
        try:
            parsed: tuple[str, bytes] | DeadLetter = to_line(message.value(), self._window_of(message))
        except InvalidRecord as exc:
            parsed = dead_letter(message, exc)
        size = len(parsed[1]) + 1 if isinstance(parsed, tuple) else len(parsed.value or b"") + 100
        if (
            batch is not None
            and batch.forced is None
            and batch.bytes
            and batch.bytes + size > self.settings.max_bytes_per_file
        ):
            self._flush(state)  # cut before this message, so a file never exceeds the limit
            batch = state.batch
        if batch is None:
            while state.forced and state.forced[0].end < offset:
                gone = state.forced.popleft()
                _range_error("offsets of a replayed range are no longer in Kafka", state.partition, gone)
            forced = state.forced.popleft() if state.forced else None
            fmt = (
                format_for_ext(forced.ext, self.settings.gzip_level, self._compress)
                if forced and forced.ext
                else self.format
            )
            batch = state.batch = Batch(forced.start if forced else offset, time.monotonic(), forced, fmt.new_lines)
            kafka_ms = message.timestamp()[1]
            if kafka_ms > 0:
                batch.first_timestamp = kafka_ms / 1000
        self.summary.records_in += 1
        if isinstance(parsed, tuple):
            self._buffered += batch.add(*parsed)
        else:
            batch.dead.append(parsed)
            batch.bytes += size
            self._buffered += size
        batch.end = offset
        state.position = offset + 1
        if batch.forced is not None:
            if offset >= batch.forced.end:
                self._flush(state)
        elif batch.records >= self.settings.max_records_per_file or batch.bytes >= self.settings.max_bytes_per_file:
            self._flush(state)

    def _window_of(self, message: Message) -> tuple[str, str]:
        """The first and last event dates a message may have: from the earliest date set to the UTC date of its
        Kafka timestamp plus the skew allowed. The timestamp, not the clock, so that a range read again after a
        crash is decided exactly as it was the first time (the broker bounds a producer's timestamps by its
        `log.message.timestamp.after.max.ms`). Also keeps the window the hot path compares with."""
        stamp_ms = message.timestamp()[1]
        if stamp_ms < 0:  # no timestamp (-1): a broker older than Kafka 0.10
            stamp_ms = int(time.time() * 1000)
        earliest, latest = event_window(self.settings.earliest_event_date, stamp_ms / 1000, self._skew_ms / 1000)
        day_start_ms = int(dt.datetime.fromisoformat(latest).replace(tzinfo=dt.UTC).timestamp()) * 1000
        self._latest, self._latest_from_ms = latest, day_start_ms - self._skew_ms + 1
        return earliest, latest

    # -- flushing ------------------------------------------------------------------------------------------------
    def _flush_due(self, now: float) -> None:
        interval = self.settings.flush_interval_s
        for state in list(self._parts.values()):
            batch = state.batch
            if batch is not None and batch.forced is None and now - batch.created >= interval:
                self._flush(state)
        while self._buffered > self.settings.max_buffered_bytes:
            candidates = [s for s in self._parts.values() if s.batch and s.batch.complete(s.position)]
            if not candidates:
                break
            self._flush(max(candidates, key=lambda s: s.batch.bytes if s.batch else 0))

    def _flush_all(self) -> None:
        for state in list(self._parts.values()):
            if state.batch is not None and state.batch.complete(state.position):
                self._flush(state)

    def _flush(self, state: PartitionState) -> None:
        """Write the partition's batch, one object per date, then its dead letters, then commit its end."""
        batch = state.batch
        if batch is None or self._parts.get(state.partition) is not state:
            return  # nothing open, or a rebalance took the partition while another one's write was retried
        start, end = batch.bounds()
        fmt = (
            format_for_ext(batch.forced.ext, self.settings.gzip_level)
            if batch.forced and batch.forced.ext
            else self.format
        )
        try:
            for dt in sorted(batch.lines):
                key = object_key(dt, self.topic, state.partition, state.incarnation, start, end, fmt.ext)
                data = fmt.encode(batch.lines[dt])
                self._retry(f"write {key}", lambda k=key, d=data: self.sink.put(k, d), state)
                self.summary.files_written += 1
                self.summary.bytes_written += len(data)
            if batch.dead:
                self._retry("send dead letters", lambda: self.dlq.send(batch.dead), state)
            self._retry("commit", lambda: self._commit(state.partition, end + 1), state)
        except Abandoned:
            log.warning(
                "batch left unwritten; it will be read again",
                partition=state.partition,
                start=start,
                end=end,
            )
            if self.force_stop.is_set():
                raise
            return
        state.batch = None
        self._buffered -= batch.bytes
        self.summary.records_out += batch.records
        self.summary.dead_letters += len(batch.dead)
        if batch.forced is not None:
            self.summary.batches_replayed += 1
        self._note_landed(state, batch)
        level = logging.INFO if self.settings.log_batches else logging.DEBUG
        log.log(
            level,
            "batch landed",
            topic=self.topic,
            partition=state.partition,
            start=start,
            end=end,
            records=batch.records,
            dead_letters=len(batch.dead),
            files=len(batch.lines),
        )

    def _note_landed(self, state: PartitionState, batch: Batch) -> None:
        """What the metrics read of a landed batch: once per batch, never per record."""
        s = self.summary
        s.last_commit = state.landed_at = time.time()
        for letter in batch.dead:
            s.dead_letters_by_reason[letter.kind] = s.dead_letters_by_reason.get(letter.kind, 0) + 1
        if batch.lines:
            day = max(batch.lines)
            newest = batch.lines[day].newest
            stamp = dt.datetime.fromisoformat(f"{day}T{newest}").replace(tzinfo=dt.UTC).timestamp()
            # A record dated ahead of the clock (within the window's skew) counts as landed now, not in the
            # future: the freshness metric then rises from now on, as it would after any fresh record.
            stamp = min(stamp, s.last_commit)
            s.newest_event = stamp if s.newest_event is None else max(s.newest_event, stamp)

    def lag_by_partition(self, now: float) -> tuple[dict[int, int], dict[int, float]]:
        """Per assigned partition: records not yet landed and committed (librdkafka's consumer_lag, from its
        statistics), and the age of the oldest of them. That age is exact when the record is in the open batch;
        when none is open it is counted from the partition's last commit (or its assignment)."""
        records: dict[int, int] = {}
        seconds: dict[int, float] = {}
        stats = self.stats.partitions(self.topic)
        for partition, state in list(self._parts.items()):
            lag = stats.get(partition, {}).get("consumer_lag", -1)
            if lag < 0:
                continue  # not known yet (no commit and no fetch since the assignment)
            records[partition] = lag
            batch = state.batch
            if batch is not None:
                seconds[partition] = max(0.0, now - batch.first_timestamp)
            else:
                seconds[partition] = max(0.0, now - state.landed_at) if lag else 0.0
        return records, seconds

    def _commit(self, partition: int, offset: int) -> None:
        result = self.consumer.commit(offsets=[TopicPartition(self.topic, partition, offset)], asynchronous=False)
        for tp in result or []:
            if tp.error is not None:
                raise KafkaException(tp.error)

    # -- retrying through outages --------------------------------------------------------------------------------
    def _retrying(
        self, what: str, action: Callable[[], T], wait: Callable[[float], None], partition: int | None = None
    ) -> tuple[T, int]:
        """`retry.retry` with the consumer's backoff, log lines and count; the action's result and its attempts.
        What is not transient ends the run: a setup the operator must fix as a `ConsumerError`, a bug as it is."""

        def report(attempt: int, delay: float, exc: BaseException) -> None:
            self.summary.storage_retries += 1
            where = {} if partition is None else {"partition": partition}
            log.warning(
                "failed; retrying",
                action=what,
                **where,
                attempt=attempt,
                retry_in_s=round(delay, 2),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )

        try:
            return retry(action, self._backoff, wait, report)
        except (ObjectConflict, NoTopicId) as exc:  # not transient: retrying would only repeat them
            raise ConsumerError(str(exc)) from exc
        except Exception as exc:
            if is_operational(exc):  # refused, not passing: the operator must fix it
                raise ConsumerError(f"{what}: {type(exc).__name__}: {exc}") from exc
            raise

    def _retry(self, what: str, action: Callable[[], None], state: PartitionState) -> None:
        """Run `action` until it succeeds, polling in between so the consumer stays in its group."""

        def wait(delay: float) -> None:
            self._wait_in_group(delay)
            if self.force_stop.is_set():
                raise Abandoned
            if self._parts.get(state.partition) is not state:
                # The partition went to another consumer while paused: read on those this one holds now.
                self.consumer.resume(self.consumer.assignment())
                raise Abandoned

        _, attempts = self._retrying(what, action, wait, state.partition)
        if attempts > 1:
            log.info("recovered", action=what, partition=state.partition, attempts=attempts)
            self.consumer.resume(self.consumer.assignment())

    def _wait_in_group(self, seconds: float) -> None:
        """Wait with every partition paused, polling so heartbeats, rebalances and max.poll.interval are served."""
        deadline = time.monotonic() + seconds
        while not self.force_stop.is_set():
            self.consumer.pause(self.consumer.assignment())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            message = self.consumer.poll(min(remaining, 0.5))
            if message is not None:
                self._pending.append(message)

    def _retry_blocking(self, what: str, action: Callable[[], T]) -> T:
        """Retry inside the assignment callback, where polling is not allowed (librdkafka keeps heartbeating). A stop
        request ends the wait: nothing of these partitions has been read yet, so there is nothing to write, and a
        consumer whose brokers are gone still stops on the first signal."""

        def wait(delay: float) -> None:
            if self.stop_event.wait(delay):
                raise Abandoned

        return self._retrying(what, action, wait)[0]

    # -- rebalances ----------------------------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = self._retry_blocking("read committed offsets", lambda: consumer.committed(partitions, timeout=30))
        incarnations = self._incarnations
        assert incarnations is not None
        incarnation = self._retry_blocking("read the topic's id", lambda: incarnations.of(self.topic))
        for tp in committed:
            start, forced = self._retry_blocking(
                f"reconcile partition {tp.partition} with the lake", lambda tp=tp: self._reconcile(tp, incarnation)
            )
            tp.offset = start
            self._parts[tp.partition] = PartitionState(tp.partition, incarnation, start if start >= 0 else None, forced)
        consumer.assign(committed)
        # librdkafka keeps a partition's pause across a revocation: one paused by a retry that a rebalance cut short
        # (nothing left to resume then) would come back paused, and never be read.
        consumer.resume(committed)
        log.info(
            "partitions assigned",
            topic=self.topic,
            incarnation=incarnation,
            partitions={tp.partition: tp.offset for tp in committed},
        )
        self.ready.set()

    def _reconcile(self, tp: TopicPartition, incarnation: str) -> tuple[int, deque[BatchRange]]:
        """Where to start reading a partition, and the ranges of this incarnation the lake holds beyond its committed
        offset (`recovery.plan`). Other incarnations' objects are not even listed: their offsets count from another
        start."""
        committed = tp.offset
        floor = recovery.listing_floor(committed)
        plan = recovery.plan(committed, batch_ranges(self.sink, self.topic, tp.partition, incarnation, floor))
        for overlap in plan.overlaps:
            _range_error("lake holds overlapping ranges; keeping the first", tp.partition, overlap)
        if plan.announce:
            log.warning(
                "writing again ranges found in the lake beyond the committed offset",
                partition=tp.partition,
                committed=committed,
                ranges=[f"{r.start}-{r.end}" for r in plan.forced],
            )
        return plan.start, deque(plan.forced)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            state = self._parts.pop(tp.partition, None)
            if state is not None and state.batch is not None:
                self._buffered -= state.batch.bytes
        kept = [m for m in self._pending if m.partition() in self._parts]
        self._pending.clear()  # in place: a drain in progress holds this deque
        self._pending.extend(kept)
        if partitions:
            log.info(
                "partitions revoked; their open batches will be read again by the next owner",
                partitions=[tp.partition for tp in partitions],
            )

    # -- progress ------------------------------------------------------------------------------------------------
    def _caught_up(self) -> bool:
        if not self._parts or not self.ready.is_set():
            return False
        for state in list(self._parts.values()):  # cheap first: the watermarks of the last fetch
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, state.partition), cached=True)
            if high >= 0 and state.position is not None and state.position < high:
                return False
        for state in list(self._parts.values()):
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, state.partition), timeout=5, cached=False
                )
            except KafkaException:
                return False
            position = low if state.position is None else state.position
            if position < high or state.forced:
                return False
        self._flush_all()
        return all(s.batch is None for s in self._parts.values())

    def _lag(self) -> int:
        lag = 0
        for state in list(self._parts.values()):
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, state.partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag += max(0, high - (low if state.position is None else state.position))
        return lag

    def _log_progress(self) -> None:
        s = self.summary
        log.info(
            "progress",
            records_in=s.records_in,
            records_out=s.records_out,
            dead_letters=s.dead_letters,
            files_written=s.files_written,
            lag=self._lag(),
            partitions=sorted(self._parts),
            buffered_bytes=self._buffered,
        )


def _range_error(message: str, partition: int, batch: BatchRange) -> None:
    log.error(message, partition=partition, start=batch.start, end=batch.end)


def run(
    settings: ConsumerSettings | None = None,
    until_caught_up: bool = False,
    stop_event: threading.Event | None = None,
    progress: Callable[[Summary, int], None] | None = None,
) -> Summary:
    """Land the topic in the lake. With `until_caught_up`, return once everything produced so far is landed."""
    writer = LakeWriter(settings or ConsumerSettings(), stop_event=stop_event, progress=progress)
    return writer.run(until_caught_up=until_caught_up)
