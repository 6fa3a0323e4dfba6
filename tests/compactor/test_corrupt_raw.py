"""A corrupt raw object or a truncated gzip file: its day is left out whole (never folded in partly), counted and
logged once naming the object; the other days are folded in, and the compactor goes on to its next run."""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from pathlib import Path

import pytest

from core import metric_names as m
from core.names import LAKE_DATA_PREFIX, PARTITION_COLUMN
from fitpipe.sample_lake import START, land
from services.compactor.compactor import DaysFailed, compact
from services.compactor.metrics import CompactorMetrics
from services.compactor.service import run_once
from services.producer.simulator import simulate
from tests.compactor.conftest import load_table, local_settings

DAYS = 4
#: The attribute of a log record that holds its bound fields (`services.common.logs.EventLog`).
FIELDS = "fields"


def _days(lake: Path) -> list[Path]:
    return sorted((lake / LAKE_DATA_PREFIX).glob("dt=*"))


def _rows_per_day(lake: Path) -> Counter[str]:
    return Counter(r[PARTITION_COLUMN] for r in load_table(lake).scan().to_arrow().to_pylist())


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    """Valid gzip around lines that are not records."""
    path.write_bytes(gzip.compress(b'{"id": "not a number"}\n' + gzip.decompress(path.read_bytes())))


def _not_gzip(path: Path) -> None:
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)


@pytest.mark.parametrize("damage", [_truncate, _garble, _not_gzip], ids=["truncated gzip", "bad lines", "not gzip"])
def test_a_day_with_a_corrupt_object_fails_alone_and_the_others_are_folded_in(
    lake: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:
    land(lake, simulate(3, START, DAYS, seed=5), records_per_file=50)
    days = _days(lake)
    assert len(days) == DAYS
    bad_day = days[1]
    objects = sorted(bad_day.glob("*.json.gz"))
    assert len(objects) > 2, "the day has good objects besides the bad one"
    bad = objects[len(objects) // 2]
    damage(bad)
    metrics = CompactorMetrics()
    settings = local_settings(lake)

    caplog.set_level(logging.INFO)
    with pytest.raises(DaysFailed) as failed:
        compact(settings, on_failed=metrics.day_failed)
    assert [(c.day, c.name) for c in failed.value.summary.failed] == [(bad_day.name[3:], bad.name)]
    assert metrics.days_failed == 1
    lines = [r for r in caplog.records if bad.name in str(getattr(r, FIELDS, {}).get("object"))]
    assert len(lines) == 1 and lines[0].getMessage().startswith("day not compacted"), lines
    assert getattr(lines[0], FIELDS)["object"] == f"{bad_day.name}/{bad.name}"

    per_day = _rows_per_day(lake)
    assert set(per_day) == {d.name[3:] for d in days} - {bad_day.name[3:]}, "the other days are folded in"
    assert bad_day.name[3:] not in per_day, "no part of the bad day is committed"

    # The service goes on: the next run fails the same day again, alone, and counts it; nothing else moves.
    assert run_once(settings, metrics) is None
    assert metrics.days_failed == 2 and metrics.failures == 1 and metrics.runs == 1
    assert _rows_per_day(lake) == per_day
    figures = {s.name: s.value for family in metrics.collect() for s in family.samples}
    assert figures[m.COMPACTOR_DAYS_FAILED.name] == 2
