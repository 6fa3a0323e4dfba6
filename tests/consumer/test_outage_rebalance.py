"""A storage outage and a rebalance at once: the consumer is retrying a write when the group takes the partition
away. It leaves that batch unwritten (the partition's next owner reads it again) and goes on with the partitions it
is given, as one consumer among several; it does not stop.

The outage is a real folder sink that fails every put while it is down, as the storage does; the broker, the group
and the second consumer are real.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from services.common.logs import _FIELDS
from services.consumer.logs import LOGGER_NAME
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import (
    Background,
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration


class FailingSink:
    """A folder sink whose puts fail while `down` is set, as a storage outage makes them fail."""

    def __init__(self, inner: LocalSink):
        self.inner = inner
        self.description = inner.description
        self.down = threading.Event()

    def put(self, key: str, data: bytes) -> bool:
        if self.down.is_set():
            raise OSError(f"storage unavailable: {key} not written")
        return self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Events(logging.Handler):
    """The consumer's log events, by the thread that logged them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.threadName, record.getMessage(), record.levelno))

    def by(self, thread: threading.Thread, message: str) -> int:
        return sum(1 for name, text, _ in self.seen if name == thread.name and text == message)

    def levels(self, thread: threading.Thread, message: str) -> set[int]:
        return {level for name, text, level in self.seen if name == thread.name and text == message}


@pytest.fixture
def events() -> Any:
    handler = Events()
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_write_abandoned_by_a_rebalance_during_an_outage_leaves_the_consumer_running(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, events: Events
) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    settings = settings_for(kafka_bootstrap, topic_name, max_records_per_file=10_000, flush_interval_s=0.5)
    logged = settings_for(
        kafka_bootstrap, topic_name, max_records_per_file=10_000, flush_interval_s=0.5, log_batches=True
    )
    lake = tmp_path / "lake"
    sink = FailingSink(LocalSink(lake))
    before, during, after = make_records(200, seed=1), make_records(200, seed=2), make_records(200, seed=3)

    with Background(LakeWriter(logged, sink=sink)) as first:
        produce_records(kafka_bootstrap, topic_name, before)
        assert wait_until(lambda: identity_multiset(lake_records(sink)) == identity_multiset(before), timeout=60)

        sink.down.set()
        produce_records(kafka_bootstrap, topic_name, during)
        assert wait_until(lambda: first.writer.summary.storage_retries > 0, timeout=30), "the outage was not felt"

        # A second consumer joins the group: the rebalance takes the partitions from the first while it retries.
        with Background(LakeWriter(settings, sink=LocalSink(lake))) as second:
            abandoned = wait_until(lambda: events.by(first.thread, "batch left unwritten; it will be read again"), 30)
            assert abandoned, "the rebalance did not make the first consumer leave its write"
            sink.down.clear()
            landed = first.writer.summary.records_out

            produce_records(kafka_bootstrap, topic_name, after)
            expected = identity_multiset(before + during + after)
            assert wait_until(lambda: identity_multiset(lake_records(sink)) == expected, timeout=60), (
                f"lake has {len(lake_records(sink))} of {sum(expected.values())} records"
            )
            assert first.thread.is_alive(), "the consumer stopped after leaving a write to the partition's next owner"
            assert first.writer.summary.records_out > landed, "the first consumer landed nothing after the rebalance"
            assert second.writer.summary.records_out > 0
        assert events.levels(first.thread, "batch landed") == {logging.INFO}, "log_batches: each batch at INFO"
        assert events.levels(second.thread, "batch landed") == {logging.DEBUG}, "by default each batch at DEBUG"


class PausingSink:
    """A folder sink that, on one put once armed, pauses every partition its consumer holds, from the consumer's own
    thread: the state a retry leaves behind when a rebalance took the partitions before it could resume them."""

    def __init__(self, inner: LocalSink):
        self.inner = inner
        self.description = inner.description
        self.writer: LakeWriter | None = None
        self.armed = threading.Event()
        self.paused = threading.Event()

    def put(self, key: str, data: bytes) -> bool:
        if self.armed.is_set() and not self.paused.is_set() and self.writer is not None:
            self.writer.consumer.pause(self.writer.consumer.assignment())
            self.paused.set()
        return self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class OnePartitionDown:
    """A folder sink whose puts fail, while `down` is set, for one partition only: the first it is asked to write.
    Every put that reaches the storage is recorded in `log` with the thread that made it and its partition."""

    def __init__(self, inner: LocalSink, log: list[tuple[str, str, Any]]):
        self.inner = inner
        self.description = inner.description
        self.down = threading.Event()
        self.failing: int | None = None
        self.log = log

    def put(self, key: str, data: bytes) -> bool:
        partition = int(key.rsplit("/", 1)[-1].split("+")[1])
        if self.down.is_set():
            self.failing = partition if self.failing is None else self.failing
            if partition == self.failing:
                raise OSError(f"storage unavailable: {key} not written")
        self.log.append((threading.current_thread().name, "put", partition))
        return self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_partitions_left_paused_and_given_back_by_a_rebalance_are_read(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """librdkafka keeps a partition's pause across a revocation. A consumer whose partitions were paused (by a retry
    that a rebalance cut short, with nothing left to resume at its end: a commit refused with "unknown member" while
    a broker is lost, say) reads the partitions it is given back, instead of staying in the group reading nothing."""
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    lake = tmp_path / "lake"
    settings = settings_for(kafka_bootstrap, topic_name, max_records_per_file=10_000, flush_interval_s=0.5)
    sink = PausingSink(LocalSink(lake))
    writer = LakeWriter(settings, sink=sink)
    sink.writer = writer
    before, after = make_records(200, seed=4), make_records(200, seed=5)

    with Background(writer):
        sink.armed.set()
        produce_records(kafka_bootstrap, topic_name, before)
        assert wait_until(lambda: identity_multiset(lake_records(sink)) == identity_multiset(before), timeout=60)
        assert sink.paused.is_set()
        with Background(LakeWriter(settings, sink=LocalSink(lake))) as second:
            produce_records(kafka_bootstrap, topic_name, after)
            expected = identity_multiset(before + after)
            assert wait_until(lambda: identity_multiset(lake_records(sink)) == expected, timeout=30), (
                f"lake has {len(lake_records(sink))} of {sum(expected.values())} records; the second consumer "
                f"landed {second.writer.summary.records_out}"
            )


def test_a_rebalance_during_one_partitions_retry_stops_the_flush_of_the_others(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, events: Events
) -> None:
    """Two batches are due together; the first one's write fails and is retried, and a rebalance gives the other
    partition to a second consumer meanwhile. The first must not go on to write (or commit) that partition's batch:
    its new owner has listed the lake without that range and reads it again, perhaps with other bounds."""
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    # Static members: the range assignor orders them by instance id, so the first keeps partition 0 (the one whose
    # writes fail) and the second takes partition 1.
    first_settings = settings_for(
        kafka_bootstrap, topic_name, max_records_per_file=10_000, flush_interval_s=0.5, group_instance_id="a"
    )
    second_settings = settings_for(
        kafka_bootstrap, topic_name, max_records_per_file=10_000, flush_interval_s=0.5, group_instance_id="b"
    )
    lake = tmp_path / "lake"
    log: list[tuple[str, str, Any]] = []
    sink = OnePartitionDown(LocalSink(lake), log)
    records = make_records(400, seed=4)

    class Ordered(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.append((record.threadName, record.getMessage(), getattr(record, _FIELDS, {})))

    ordered = Ordered(logging.DEBUG)
    logging.getLogger(LOGGER_NAME).addHandler(ordered)
    try:
        with Background(LakeWriter(first_settings, sink=sink)) as first:
            sink.down.set()
            produce_records(kafka_bootstrap, topic_name, records)
            assert wait_until(lambda: first.writer.summary.storage_retries > 0, timeout=30), "the outage was not felt"
            with Background(LakeWriter(second_settings, sink=LocalSink(lake))) as second:
                left = wait_until(lambda: events.by(first.thread, "batch left unwritten; it will be read again"), 30)
                assert left, "the rebalance did not make the first consumer leave its write"
                sink.down.clear()
                expected = identity_multiset(records)
                assert wait_until(lambda: identity_multiset(lake_records(sink)) == expected, timeout=60), (
                    f"lake has {len(lake_records(sink))} of {sum(expected.values())} records"
                )
                assert second.writer.summary.records_out > 0
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(ordered)

    owned: set[int] = set()
    for thread, what, fields in log:
        if thread != first.thread.name:
            continue
        if what == "partitions assigned":
            owned |= set(fields["partitions"])
        elif what.startswith("partitions revoked"):
            owned -= set(fields["partitions"])
        elif what == "put":
            assert fields in owned, f"the first consumer wrote partition {fields} after a rebalance took it away"
