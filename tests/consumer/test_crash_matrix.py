"""The crash matrix: the consumer dies after every step of the protocol, in each of the first batches, and a fresh
consumer on the same group and lake recovers. Good and bad messages are mixed.

A crash is an exception that escapes every retry loop (a `BaseException`), raised from the seams the writer talks
to: the sink's `put`, the dead-letter producer, the consumer's commit and the sink's listing during reconciliation.
The crashing run's consumer leaves its group on the way out (a SIGKILLed one would linger until its session
expires, which only makes the test slower) and the dead letters it had not flushed are purged, as a kill loses them.

Each cell asserts, after the recovery:
- every good record is in the lake exactly once (whole records compared);
- every bad message is in the dead-letter topic at least once, with its exact key, value, reason, source topic,
  partition and offset (from the producer's delivery reports), and the topic holds nothing else;
- the replay started where it had to: the committed offset the crash left, the partly written range the lake holds
  beyond it (and nothing else), and the recovery read exactly the messages from there on (`records_in`,
  `batches_replayed`).

One source topic serves every cell: each cell has its own group, lake and dead-letter topic.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from core.schema import encode
from services.consumer.incarnation import topic_incarnation
from services.consumer.sinks import LocalSink, S3Sink, Sink, batch_ranges
from services.consumer.writer import LakeWriter, Summary
from tests.consumer.conftest import committed_offsets, create_topic, lake_records, settings_for
from tests.strategies import sample_record

pytestmark = pytest.mark.integration

#: The partition whose batches the crashes hit; the other one runs alongside.
CRASHED = 1
RECORDS_PER_BATCH = 4
DATES = ("2016-04-12", "2016-04-13")  # every batch holds both: two objects per batch

#: Bad messages: (key, value, the exact `reason` header).
EMPTY = (b"bad-empty", b"", "empty message")
TOMBSTONE = (None, None, "empty message")
NOT_JSON = (b"bad-text", b"steps=12", "not JSON: unexpected character, expected a JSON value: line 1 column 1 (char 0)")
BELOW = (b"bad-steps", encode(sample_record(id=1_111_111_111, steps=-1)), "steps: -1 is below 0")
EXTRA = (b"bad-extra", orjson.dumps(sample_record(id=1_222_222_222, location="gym")), "location: unexpected field")

GOOD = "good"
#: Each partition's messages in offset order: GOOD or a bad message.
LAYOUT: dict[int, list[Any]] = {
    CRASHED: [
        EMPTY, GOOD, GOOD, GOOD, GOOD,  # batch 1: 0-4, starts with a dead letter
        GOOD, GOOD, NOT_JSON, GOOD, GOOD,  # batch 2: 5-9
        GOOD, BELOW, TOMBSTONE, GOOD, GOOD, GOOD,  # batch 3: 10-15, two dead letters, one without a key
        GOOD, GOOD, GOOD, GOOD,  # batch 4: 16-19, no dead letter
        GOOD, EXTRA, GOOD, GOOD, GOOD,  # batch 5: 20-24
        GOOD, NOT_JSON, GOOD,  # 25-27: the open batch, landed once caught up
    ],
    0: [GOOD, GOOD, EXTRA, GOOD, GOOD, GOOD, GOOD, GOOD, BELOW, GOOD, GOOD, EMPTY, GOOD],
}  # fmt: skip
#: The batches of the crashed partition, pinned by hand from the layout: (start, end) offsets.
BATCHES = [(0, 4), (5, 9), (10, 15), (16, 19), (20, 24), (25, 27)]

PUT_STEPS = ["before put 1", "after put 1", "before put 2", "after put 2"]
SEND_STEPS = ["before dead letters", "after dead letters"]
COMMIT_STEPS = ["before commit", "after commit"]
STEPS = PUT_STEPS + SEND_STEPS + COMMIT_STEPS


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing after it runs (BaseException escapes the retry loops)."""


@dataclass(frozen=True)
class Crash:
    """Die at `step` of the crashed partition's `batch`-th batch of this run (1-based), or during reconciliation."""

    step: str
    batch: int = 0

    def __str__(self) -> str:
        return self.step if not self.batch else f"batch {self.batch} {self.step}"


RECONCILE = Crash("reconciliation")


class Tripwire:
    """Knows which batch of the crashed partition is being flushed and which step it is at; raises at the plan's."""

    def __init__(self, plan: Crash | None):
        self.plan = plan
        self.batch = 0  # batches of the crashed partition flushed by this run so far
        self.flushing = False
        self.puts = 0
        self.sent = False
        self.crashed = False

    def at(self, step: str) -> None:
        plan = self.plan
        if plan is not None and not self.crashed and self.flushing and plan.batch == self.batch and plan.step == step:
            self.crashed = True
            raise SimulatedCrash(str(plan))

    def reconciling(self) -> None:
        if self.plan == RECONCILE and not self.crashed:
            self.crashed = True
            raise SimulatedCrash("during reconciliation")


class CrashingSink:
    """A real sink (folder or bucket) with the tripwire around `put` and the listing."""

    def __init__(self, inner: Sink, trip: Tripwire):
        self.inner = inner
        self.trip = trip
        self.description = inner.description

    def put(self, key: str, data: bytes) -> Any:
        self.trip.puts += 1
        self.trip.at(f"before put {self.trip.puts}")
        result = self.inner.put(key, data)
        self.trip.at(f"after put {self.trip.puts}")
        return result

    def ranges(self, topic: str, partition: int, *rest: Any) -> list:
        if partition == CRASHED:
            self.trip.reconciling()
        return self.inner.ranges(topic, partition, *rest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingProducer:
    """The dead-letter producer with the tripwire before its first send and after its flush. Once crashed, what
    it holds unflushed is purged: a killed process loses it."""

    def __init__(self, inner: Producer, trip: Tripwire):
        self.inner = inner
        self.trip = trip

    def produce(self, *args: Any, **kwargs: Any) -> None:
        if not self.trip.sent:
            self.trip.sent = True
            self.trip.at("before dead letters")
        self.inner.produce(*args, **kwargs)

    def flush(self, *args: Any) -> int:
        if self.trip.crashed:
            self.inner.purge()
            return 0
        remaining = self.inner.flush(*args)
        self.trip.at("after dead letters")
        return remaining

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MatrixWriter(LakeWriter):
    """The real writer, with the tripwire at its commit, and a record of where each partition's reading starts."""

    def __init__(self, *args: Any, trip: Tripwire, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.trip = trip
        self.starts: dict[int, tuple[int, list[tuple[int, int]]]] = {}

    def _new_dlq_producer(self) -> Any:
        return CrashingProducer(super()._new_dlq_producer(), self.trip)

    def _flush(self, state: Any) -> None:
        crashed = state.partition == CRASHED and state.batch is not None
        if crashed:
            self.trip.batch += 1
            self.trip.puts = 0
            self.trip.sent = False
        self.trip.flushing = crashed
        try:
            super()._flush(state)
        finally:
            self.trip.flushing = False

    def _commit(self, partition: int, offset: int) -> None:
        self.trip.at("before commit")
        super()._commit(partition, offset)
        self.trip.at("after commit")

    def _reconcile(self, tp: TopicPartition, *rest: Any) -> Any:
        start, forced = super()._reconcile(tp, *rest)
        # OFFSET_BEGINNING (negative) is offset 0 here: nothing was ever deleted from the source topic.
        self.starts[tp.partition] = (max(start, 0), [(r.start, r.end) for r in forced])
        return start, forced


# -- the stream ------------------------------------------------------------------------------------------------------
@dataclass
class Stream:
    topic: str
    good: list[dict]
    #: (partition, offset) -> (key, value, reason) of every bad message, offsets from the delivery reports.
    bad: dict[tuple[int, int], tuple[bytes | None, bytes | None, str]]
    counts: dict[int, int]  # messages per partition


def _produce_layout(bootstrap: str, topic: str) -> Stream:
    """Produce the layout one message at a time, so the delivery reports come in order and give each offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    reports: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        reports.append(err if err is not None else (msg.partition(), msg.offset()))

    good: list[dict] = []
    bad = {}
    for partition, layout in LAYOUT.items():
        n_good = 0
        for item in layout:
            if item == GOOD:
                record = sample_record(
                    id=1_500_000_000 + partition,
                    date=DATES[n_good % 2],
                    time=f"{n_good // 60:02d}:{n_good % 60:02d}:00",
                    steps=n_good,
                )
                n_good += 1
                key, value = str(record["id"]).encode(), encode(record)
            else:
                key, value, _reason = item
            producer.produce(topic, value=value, key=key, partition=partition, on_delivery=delivered)
            assert producer.flush(30) == 0
            report = reports[-1]
            assert isinstance(report, tuple), report
            if item == GOOD:
                good.append(record)
            else:
                bad[report] = item
    counts = {p: sum(1 for r in reports if r[0] == p) for p in LAYOUT}
    assert counts == {p: len(layout) for p, layout in LAYOUT.items()}
    # The pinned batch table rests on offsets counted from 0 in layout order, as the broker stored them.
    assert sorted(o for p, o in bad if p == CRASHED) == [i for i, m in enumerate(LAYOUT[CRASHED]) if m != GOOD]
    return Stream(topic, good, bad, counts)


@pytest.fixture(scope="module")
def stream(kafka_bootstrap: str) -> Stream:
    topic = f"test-crash-matrix-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=len(LAYOUT))
    return _produce_layout(kafka_bootstrap, topic)


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every message of a one-partition topic, from its start to its high watermark."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        tp = TopicPartition(topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        messages: list[Any] = []
        while high > low and (not messages or messages[-1].offset() < high - 1):
            batch = consumer.consume(high - low - len(messages), timeout=10)  # returns once it has them all
            assert batch, f"{topic}: nothing read up to the high watermark {high}"
            messages += [m for m in batch if m.error() is None]
        return messages
    finally:
        consumer.close()


# -- the cells -------------------------------------------------------------------------------------------------------
def _cells() -> Iterator[Any]:
    for batch in (1, 2, 3):
        for step in STEPS:
            yield pytest.param([Crash(step, batch)], id=f"batch{batch}-{step.replace(' ', '-')}")
    # Crashes during recovery: while listing the lake, while writing the replayed range again, before committing it.
    yield pytest.param([Crash("after put 1", 2), RECONCILE], id="reconciliation")
    yield pytest.param([Crash("after put 2", 3), Crash("before put 2", 1)], id="replay-before-put-2")
    yield pytest.param([Crash("before commit", 1), Crash("before commit", 1)], id="replay-before-commit")


def _expected_after(plan: Crash, previous: tuple[int, tuple[int, int] | None]) -> tuple[int, tuple[int, int] | None]:
    """The crashed partition's committed offset and the range the lake holds beyond it, after this crash."""
    if plan == RECONCILE:
        return previous
    committed, replaying = previous
    if replaying is not None:
        assert plan.batch == 1, "a recovering run replays its first batch"
        batch = replaying
    else:
        index = next(i for i, (start, _end) in enumerate(BATCHES) if start == committed) + plan.batch - 1
        batch = BATCHES[index]
    if plan.step == "after commit":
        return batch[1] + 1, None
    written = replaying is not None or plan.step != "before put 1"
    return batch[0], (batch if written else None)


@pytest.fixture(params=["local", "s3"])
def sink_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        return lambda: LocalSink(tmp_path / "lake")
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return lambda: S3Sink(bucket, endpoint)


@pytest.mark.parametrize("crashes", list(_cells()))
def test_crash_at_every_step(kafka_bootstrap: str, stream: Stream, sink_factory: Any, crashes: list[Crash]) -> None:
    cell = uuid.uuid4().hex[:8]
    settings = settings_for(
        kafka_bootstrap,
        stream.topic,
        group_id=f"matrix-{cell}",
        dlq_topic=f"{stream.topic}.dlq-{cell}",
        max_records_per_file=RECORDS_PER_BATCH,
        flush_interval_s=3600,
    )
    create_topic(kafka_bootstrap, settings.dlq_topic, partitions=1)
    sink = sink_factory()

    state: tuple[int, tuple[int, int] | None] = (0, None)
    for n, plan in enumerate(crashes):
        trip = Tripwire(plan)  # one tripwire for the sink, the dead-letter producer and the commit
        writer = MatrixWriter(settings, sink=CrashingSink(sink, trip), trip=trip)
        with pytest.raises(SimulatedCrash):
            writer.run(until_caught_up=True)
        if n > 0 and plan != RECONCILE:
            assert writer.starts[CRASHED] == (state[0], [state[1]] if state[1] else []), "replay started elsewhere"
        state = _expected_after(plan, state)
        committed = committed_offsets(kafka_bootstrap, settings.group_id, stream.topic, len(LAYOUT))
        assert max(committed[CRASHED], 0) == state[0], f"committed offset after a crash at {plan}"
        incarnation = topic_incarnation({"bootstrap.servers": kafka_bootstrap}, stream.topic)
        beyond = batch_ranges(sink, stream.topic, CRASHED, incarnation, max(committed[CRASHED], 0))
        assert sorted((r.start, r.end) for r in beyond) == ([state[1]] if state[1] else []), f"after {plan}"
        other = [p for p in LAYOUT if p != CRASHED]
        for p in other:  # the other partition is never left with a written, uncommitted range
            assert not batch_ranges(sink, stream.topic, p, incarnation, max(committed[p], 0))

    # The recovery: a fresh consumer on the same group and lake.
    writer = MatrixWriter(settings, sink=sink, trip=Tripwire(None))
    summary: Summary = writer.run(until_caught_up=True)
    assert writer.starts[CRASHED] == (state[0], [state[1]] if state[1] else []), "replay started elsewhere"
    unread = sum(stream.counts[p] - max(c, 0) for p, c in enumerate(committed))
    assert summary.records_in == unread, "the recovery reads exactly the messages beyond the committed offsets"
    assert summary.batches_replayed == (1 if state[1] else 0)

    def canonical(records: list[dict]) -> Counter[bytes]:
        return Counter(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)

    assert canonical(lake_records(sink)) == canonical(stream.good), "every good record exactly once"

    letters = read_all(kafka_bootstrap, settings.dlq_topic)
    seen = set()
    for letter in letters:
        headers = dict(letter.headers() or [])
        position = (int(headers["source.partition"]), int(headers["source.offset"]))
        assert position in stream.bad, f"a dead letter for {position}, which is not a bad message"
        key, value, reason = stream.bad[position]
        assert letter.key() == key, position
        assert letter.value() == value, position
        assert headers == {
            "reason": reason.encode(),
            "source.topic": stream.topic.encode(),
            "source.partition": str(position[0]).encode(),
            "source.offset": str(position[1]).encode(),
        }, position
        seen.add(position)
    assert seen == set(stream.bad), f"bad messages missing from the dead-letter topic: {set(stream.bad) - seen}"
