"""Exactly-once at each crash point, made to happen deterministically in-process: during the write of a batch's
second object, between the write and the commit, during recovery itself, and across rebalances."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from services.consumer.incarnation import topic_incarnation
from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import LocalSink, batch_ranges
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import (
    Background,
    committed_offsets,
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing after it runs (BaseException escapes the retry loops)."""


class CrashingSink(LocalSink):
    """A real folder sink that dies just before its `crash_at`-th put."""

    def __init__(self, root: Path, crash_at: int):
        super().__init__(root)
        self.crash_at = crash_at
        self.puts = 0

    def put(self, key: str, data: bytes) -> bool:
        self.puts += 1
        if self.puts == self.crash_at:
            raise SimulatedCrash(key)
        return super().put(key, data)


class CrashBeforeCommit(LakeWriter):
    def __init__(self, *args: object, crash_at: int, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.crash_at = crash_at
        self.commits = 0

    def _commit(self, partition: int, offset: int) -> None:
        self.commits += 1
        if self.commits == self.crash_at:
            raise SimulatedCrash(f"before committing {partition}@{offset}")
        super()._commit(partition, offset)


def _crash(writer: LakeWriter) -> None:
    with pytest.raises(SimulatedCrash):
        writer.run(until_caught_up=True)


def _uncommitted_ranges(tmp_path: Path, topic: str, partitions: int, bootstrap: str) -> int:
    committed = committed_offsets(bootstrap, f"group-{topic}", topic, partitions)
    sink = LocalSink(tmp_path)
    incarnation = topic_incarnation({"bootstrap.servers": bootstrap}, topic)
    return sum(
        len(batch_ranges(sink, topic, partition, incarnation, max(offset, 0)))
        for partition, offset in enumerate(committed)
    )


@pytest.fixture
def stream(kafka_bootstrap: str, topic_name: str) -> list:
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    records = make_records(12_000, seed=21, days=4)
    produce_records(kafka_bootstrap, topic_name, records)
    return records


@pytest.fixture
def settings(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> ConsumerSettings:
    """Batches of 1000 records over 4 event dates: 4 objects per batch."""
    return settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=1000)


def _high_watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermarks-{topic}"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def _recover_replaying_one_range(settings: ConsumerSettings, stream: list) -> None:
    """The same group recovers: it reads exactly from its committed offsets on and writes one range again."""
    committed = committed_offsets(settings.bootstrap_servers, settings.group_id, settings.topic, 2)
    high = _high_watermarks(settings.bootstrap_servers, settings.topic, 2)
    assert sum(high) == len(stream)
    summary = LakeWriter(settings).run(until_caught_up=True)
    assert summary.batches_replayed == 1
    assert summary.records_in == sum(h - max(c, 0) for h, c in zip(high, committed, strict=True))
    assert identity_multiset(lake_records(LocalSink(settings.lake_dir))) == identity_multiset(stream)


def test_crash_while_writing_the_second_object_of_a_batch(
    kafka_bootstrap, topic_name, tmp_path, stream, settings
) -> None:
    # Each batch holds 4 event dates: put 6 is the 2nd object of the 2nd batch.
    _crash(LakeWriter(settings, sink=CrashingSink(tmp_path, crash_at=6)))
    assert _uncommitted_ranges(tmp_path, topic_name, 2, kafka_bootstrap) == 1, "one range written in part"
    _recover_replaying_one_range(settings, stream)


def test_crash_between_write_and_commit(kafka_bootstrap, topic_name, tmp_path, stream, settings) -> None:
    _crash(CrashBeforeCommit(settings, crash_at=3))
    assert _uncommitted_ranges(tmp_path, topic_name, 2, kafka_bootstrap) == 1, "one range written, not committed"
    _recover_replaying_one_range(settings, stream)


def test_crash_during_recovery_then_recovery_again(tmp_path, stream, settings) -> None:
    _crash(LakeWriter(settings, sink=CrashingSink(tmp_path, crash_at=7)))
    # The recovering consumer dies while writing the replayed range again.
    _crash(LakeWriter(settings, sink=CrashingSink(tmp_path, crash_at=2)))
    _recover_replaying_one_range(settings, stream)


def test_lost_committed_offsets_are_rebuilt_from_the_lake(topic_name, tmp_path, stream, settings) -> None:
    """A new group (or expired offsets) over an existing lake resumes after the lake's last range, not at zero."""
    _crash(LakeWriter(settings, sink=CrashingSink(tmp_path, crash_at=10)))
    # Batches are exactly 1000 records: the last range of each partition starts at a multiple of 1000, at or before
    # the old group's committed offset, and the new group reads from there (writing that range again), not from 0.
    committed = committed_offsets(settings.bootstrap_servers, settings.group_id, topic_name, 2)
    high = _high_watermarks(settings.bootstrap_servers, topic_name, 2)
    sink = LocalSink(tmp_path)
    incarnation = topic_incarnation({"bootstrap.servers": settings.bootstrap_servers}, topic_name)
    lake = [batch_ranges(sink, topic_name, p, incarnation) for p in range(2)]
    last_starts = [max((r.start for r in ranges), default=0) for ranges in lake]
    had_ranges = [bool(ranges) for ranges in lake]
    for start, done in zip(last_starts, committed, strict=True):
        assert start % 1000 == 0 and start <= max(done, 0)
    assert sum(last_starts) > 0, "the crash leaves the lake beyond the first batch"
    fresh_group = settings.model_copy(update={"group_id": f"other-{topic_name}"})
    summary = LakeWriter(fresh_group).run(until_caught_up=True)
    assert summary.records_in == sum(h - s for h, s in zip(high, last_starts, strict=True))
    assert summary.batches_replayed == sum(had_ranges), "each partition's last range is written again"
    assert identity_multiset(lake_records(sink)) == identity_multiset(stream)


def test_a_new_group_resumes_from_the_lake_when_the_topic_start_was_deleted(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """The topic's first records are deleted (retention) before a new group starts: reading from the topic's start
    would cut batches at other boundaries than the lake's, and land records twice."""
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    records = make_records(6000, seed=22, days=4)
    produce_records(kafka_bootstrap, topic_name, records)
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=1000)
    # 4 objects per batch: put 10 is the 2nd object of the 3rd batch (offsets 2000-2999); 0-1999 are committed.
    _crash(LakeWriter(settings, sink=CrashingSink(tmp_path, crash_at=10)))
    assert committed_offsets(kafka_bootstrap, settings.group_id, topic_name, 1) == [2000]

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.delete_records([TopicPartition(topic_name, 0, 1500)])
    for future in futures.values():
        future.result(30)
    low, _high = _low_high(kafka_bootstrap, topic_name)
    assert low == 1500

    fresh_group = settings.model_copy(update={"group_id": f"other-{topic_name}"})
    summary = LakeWriter(fresh_group).run(until_caught_up=True)
    assert summary.records_in == 6000 - 2000, "the new group starts at the lake's last range, 2000"
    assert summary.batches_replayed == 1, "and writes that range (2000-2999) again"
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(records)


def _low_high(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermarks-{topic}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()


def test_rebalances_while_records_flow(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=4)
    settings = settings_for(
        kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=500, flush_interval_s=0.5
    )
    sink = LocalSink(tmp_path)
    produced = []
    with Background(LakeWriter(settings)):
        for seed in range(3):
            chunk = make_records(3000, seed=100 + seed)
            produce_records(kafka_bootstrap, topic_name, chunk)
            produced += chunk
            if seed == 0:
                second = Background(LakeWriter(settings)).__enter__()  # a second member joins: rebalance
        second.__exit__(None, None, None)  # and leaves again: rebalance
        assert wait_until(lambda: len(lake_records(sink)) >= len(produced), timeout=60)
    assert identity_multiset(lake_records(sink)) == identity_multiset(produced)
