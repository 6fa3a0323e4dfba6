"""Where a consumer resumes a partition: the lake's ranges against the committed offset, on a real folder lake.

No broker is needed: reconciliation only lists the lake. The objects are empty stand-ins under real names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, TopicPartition

from services.consumer.naming import object_key
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import settings_for

TOPIC = "fitness-data"


def _resume(tmp_path: Path, committed: int, ranges: list[tuple[int, int]], partition: int = 0):
    sink = LocalSink(tmp_path)
    for n, (start, end) in enumerate(ranges):
        for dt in ("2016-04-12", "2016-04-13")[: 1 + n % 2]:  # some ranges over two dates: one object per date
            sink.put(object_key(dt, TOPIC, partition, start, end, "json"), b"")
    sink.put(object_key("2016-04-12", TOPIC, partition + 1, 5, 50, "json"), b"")  # another partition: not listed
    writer = LakeWriter(settings_for("127.0.0.1:9", TOPIC, lake_dir=tmp_path), sink=sink)
    start, forced = writer._reconcile(TopicPartition(TOPIC, partition, committed))
    return start, [(r.start, r.end) for r in forced]


def test_every_range_beyond_the_committed_offset_is_written_again_and_a_gap_is_read_again(tmp_path: Path) -> None:
    lake = [(0, 9), (10, 19), (20, 29), (35, 39)]
    assert _resume(tmp_path, 10, lake) == (10, [(10, 19), (20, 29), (30, 34), (35, 39)])


def test_a_range_overlapping_an_earlier_one_is_left_out(tmp_path: Path) -> None:
    assert _resume(tmp_path, 10, [(10, 19), (15, 24), (20, 29)]) == (10, [(10, 19), (20, 29)])


def test_a_range_beyond_a_gap_after_the_committed_offset(tmp_path: Path) -> None:
    assert _resume(tmp_path, 10, [(0, 9), (15, 19)]) == (10, [(10, 14), (15, 19)])


def test_nothing_beyond_the_committed_offset(tmp_path: Path) -> None:
    assert _resume(tmp_path, 30, [(0, 9), (10, 19), (20, 29)]) == (30, [])


@pytest.mark.parametrize("committed", [OFFSET_INVALID, -1])
def test_without_a_committed_offset_the_last_range_is_written_again(tmp_path: Path, committed: int) -> None:
    assert _resume(tmp_path, committed, [(0, 9), (10, 19), (20, 29)]) == (20, [(20, 29)])


def test_without_a_committed_offset_or_a_lake_reading_starts_at_the_beginning(tmp_path: Path) -> None:
    assert _resume(tmp_path, OFFSET_INVALID, []) == (OFFSET_BEGINNING, [])
