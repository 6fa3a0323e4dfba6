"""Where a consumer resumes a partition: the lake's ranges against the committed offset, on a real folder lake;
and when a replayed range may be written.

No broker is needed: reconciliation only lists the lake. The objects are empty stand-ins under real names.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, TopicPartition

from services.consumer.batch import Batch
from services.consumer.logs import LOGGER_NAME
from services.consumer.naming import BatchRange, object_key
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import settings_for

TOPIC = "fitness-data"
INCARNATION = "xeBkv2ZUR527rU5BKoPQAA"
OTHER_INCARNATION = "AAAAAAAAAAAAAAAAAAAAAQ"


@pytest.fixture(autouse=True)
def no_errors_unless_expected(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest):
    """Reconciling a sound lake logs no error; only the overlap test expects one."""
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    logger = logging.getLogger(LOGGER_NAME)
    attach = not logger.propagate  # once `logs.configure` ran in this process, records stop at this logger
    if attach:
        logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        if attach:
            logger.removeHandler(caplog.handler)
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    expected = 1 if "overlapping" in request.node.name else 0
    assert len(errors) == expected, errors


def _resume(tmp_path: Path, committed: int, ranges: list[tuple[int, int]], partition: int = 0):
    sink = LocalSink(tmp_path)
    for n, (start, end) in enumerate(ranges):
        for dt in ("2016-04-12", "2016-04-13")[: 1 + n % 2]:  # some ranges over two dates: one object per date
            sink.put(object_key(dt, TOPIC, partition, INCARNATION, start, end, "json"), b"")
            # the same range of another incarnation of the topic: never listed
            sink.put(object_key(dt, TOPIC, partition, OTHER_INCARNATION, start + 1000, end + 1000, "json"), b"")
    # another partition: not listed
    sink.put(object_key("2016-04-12", TOPIC, partition + 1, INCARNATION, 5, 50, "json"), b"")
    writer = LakeWriter(settings_for("127.0.0.1:9", TOPIC, lake_dir=tmp_path), sink=sink)
    start, forced = writer._reconcile(TopicPartition(TOPIC, partition, committed), INCARNATION)
    return start, [(r.start, r.end) for r in forced]


def test_every_range_beyond_the_committed_offset_is_written_again_and_a_gap_is_read_again(tmp_path: Path) -> None:
    lake = [(0, 9), (10, 19), (20, 29), (35, 39)]
    assert _resume(tmp_path, 10, lake) == (10, [(10, 19), (20, 29), (30, 34), (35, 39)])


def test_ranges_that_follow_one_another_at_large_offsets_leave_no_gap(tmp_path: Path) -> None:
    # Offsets past 256 are distinct int objects even when equal: the comparison must be by value.
    lake = [(1_000_000, 1_000_499), (1_000_500, 1_000_999)]
    assert _resume(tmp_path, 1_000_000, lake) == (1_000_000, lake)


def test_a_range_overlapping_an_earlier_one_is_left_out(tmp_path: Path) -> None:
    assert _resume(tmp_path, 10, [(10, 19), (15, 24), (20, 29)]) == (10, [(10, 19), (20, 29)])


def test_a_range_beyond_a_gap_after_the_committed_offset(tmp_path: Path) -> None:
    assert _resume(tmp_path, 10, [(0, 9), (15, 19)]) == (10, [(10, 14), (15, 19)])


def test_a_gap_that_ends_on_an_odd_offset(tmp_path: Path) -> None:
    # The gap's end is the next range's start minus one, also when that start is even.
    assert _resume(tmp_path, 10, [(10, 19), (24, 29)]) == (10, [(10, 19), (20, 23), (24, 29)])


def test_nothing_beyond_the_committed_offset(tmp_path: Path) -> None:
    assert _resume(tmp_path, 30, [(0, 9), (10, 19), (20, 29)]) == (30, [])


@pytest.mark.parametrize("committed", [OFFSET_INVALID, -1])
def test_without_a_committed_offset_the_last_range_is_written_again(tmp_path: Path, committed: int) -> None:
    assert _resume(tmp_path, committed, [(0, 9), (10, 19), (20, 29)]) == (20, [(20, 29)])


def test_without_a_committed_offset_or_a_lake_reading_starts_at_the_beginning(tmp_path: Path) -> None:
    assert _resume(tmp_path, OFFSET_INVALID, []) == (OFFSET_BEGINNING, [])


def test_a_replayed_range_is_complete_only_once_read_past_its_end() -> None:
    replay = Batch(10, 0.0, forced=BatchRange(10, 19))
    assert [replay.complete(p) for p in (None, 10, 19, 20, 21)] == [False, False, False, True, True]
    assert replay.bounds() == (10, 19)
    fresh = Batch(10, 0.0, forced=None)
    assert fresh.complete(None) and fresh.complete(11)


def test_a_group_reset_to_offset_0_reads_again_from_0_and_fills_the_gaps(tmp_path: Path) -> None:
    # A committed offset of 0 (a group reset to the earliest offset) is a committed offset like any other: every range
    # from 0 is written again and each gap read again, rather than resuming at the lake's last range.
    assert _resume(tmp_path, 0, [(0, 9), (15, 19)]) == (0, [(0, 9), (10, 14), (15, 19)])


def test_only_a_replay_is_announced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def announced() -> list[str]:
        return [r.getMessage() for r in caplog.get_records("call") if "writing again" in r.getMessage()]

    _resume(tmp_path / "nothing", 30, [(0, 9), (10, 19), (20, 29)])
    assert announced() == []
    _resume(tmp_path / "replay", 10, [(0, 9), (10, 19)])
    assert len(announced()) == 1
