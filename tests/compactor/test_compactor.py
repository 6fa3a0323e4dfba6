"""The compactor on a local lake: one commit per due day, nothing when nothing is new, late data, duplicates, the
snapshot summary, the file layout and the maintenance."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.names import LAKE_CURATED_PREFIX, LAKE_DATA_PREFIX, PARTITION_COLUMN
from core.schema import FIELD_NAMES, Record
from fitpipe.sample_lake import START, land
from services.compactor.compactor import DAY, FOLDED, RAW_DIGEST, RAW_OBJECTS, RAW_RANGES, ROWS, compact
from services.compactor.maintenance import maintain
from services.compactor.raw import LocalRawZone, RawDay, RawObject
from services.compactor.table import iceberg_schema
from services.producer.simulator import simulate
from tests.compactor.conftest import load_table, local_settings

USERS = 3
DAYS = 2


@pytest.fixture
def records() -> list[Record]:
    return list(simulate(USERS, START, DAYS, seed=3))


def _rows(lake: Path) -> list[dict]:
    return load_table(lake).scan().to_arrow().to_pylist()


def _per_day(rows: list[dict]) -> Counter[str]:
    return Counter(r[PARTITION_COLUMN] for r in rows)


def _raw_files(lake: Path, day: str) -> list[str]:
    return sorted(p.name for p in (lake / LAKE_DATA_PREFIX / f"dt={day}").iterdir())


def test_each_day_is_one_commit_of_its_unique_rows(lake: Path, records: list[Record]) -> None:
    land(lake, records, records_per_file=11)
    summary = compact(local_settings(lake))
    table = load_table(lake)

    days = sorted({r["date"] for r in records})
    assert [d.day for d in summary.compacted] == days
    assert len(table.metadata.snapshots) == len(days), "one snapshot per day replaced"
    rows = _rows(lake)
    assert len(rows) == len(records)
    assert {tuple(r[n] for n in FIELD_NAMES) for r in rows} == {tuple(r[n] for n in FIELD_NAMES) for r in records}
    assert all(r[PARTITION_COLUMN] == r["date"] for r in rows)


def test_a_second_run_commits_nothing(lake: Path, records: list[Record]) -> None:
    land(lake, records, records_per_file=11)
    compact(local_settings(lake))
    before = load_table(lake).metadata_location

    again = compact(local_settings(lake))
    assert again.commits == 0 and again.days_seen == DAYS
    assert load_table(lake).metadata_location == before, "no new metadata: nothing was committed"


def test_late_data_makes_only_its_day_due_again(lake: Path, records: list[Record]) -> None:
    first_day = START.isoformat()
    early = [r for r in records if not (r["date"] == first_day and r["time"] >= "12:00:00")]
    late = [r for r in records if r["date"] == first_day and r["time"] >= "12:00:00"]
    offsets = land(lake, early, records_per_file=11)
    compact(local_settings(lake))
    other_day_files = {f.file.file_path for f in load_table(lake).scan(row_filter=f"dt != '{first_day}'").plan_files()}

    land(lake, late, records_per_file=11, first_offsets=offsets)  # a backfill of the morning's afternoon
    again = compact(local_settings(lake))

    assert [d.day for d in again.compacted] == [first_day]
    assert _per_day(_rows(lake))[first_day] == sum(r["date"] == first_day for r in records)
    after = {f.file.file_path for f in load_table(lake).scan(row_filter=f"dt != '{first_day}'").plan_files()}
    assert after == other_day_files, "the other day was not rewritten"


def test_duplicates_in_the_raw_zone_become_one_row(lake: Path, records: list[Record]) -> None:
    offsets = land(lake, records, records_per_file=11)
    land(lake, records[:500], records_per_file=7, first_offsets=offsets)  # the same records again, other objects
    compact(local_settings(lake))
    rows = _rows(lake)
    keys = Counter((r["id"], r["date"], r["time"]) for r in rows)
    assert len(rows) == len(records) and max(keys.values()) == 1


def test_the_snapshot_summary_says_what_was_folded_in(lake: Path, records: list[Record]) -> None:
    land(lake, records, records_per_file=100, partitions=2, incarnation="AAAAAAAAAAAAAAAAAAAAAA")
    compact(local_settings(lake))
    table = load_table(lake)
    day = (START + dt.timedelta(days=1)).isoformat()
    summary = next(s.summary for s in table.metadata.snapshots if s.summary[DAY] == day)

    names = _raw_files(lake, day)
    assert int(summary[RAW_OBJECTS]) == len(names)
    assert summary[RAW_DIGEST] == LocalRawZone(lake).days()[1].digest
    assert int(summary[ROWS]) == sum(r["date"] == day for r in records)
    ranges = summary[RAW_RANGES]
    source = "fitness-data+{}+AAAAAAAAAAAAAAAAAAAAAA: "
    assert ranges.startswith(source.format(0)) and f"; {source.format(1)}" in ranges
    assert set(json.loads(table.current_snapshot().summary[FOLDED])) == {START.isoformat(), day}


def test_ranges_merge_per_source_and_count_names_without_one() -> None:
    objects = [RawObject(n, 1) for n in ("t+0+00-09.json.gz", "t+0+10-19.json.gz", "t+0+30-39.json", "x.parquet")]
    assert RawDay("2016-04-12", tuple(objects)).ranges() == "t+0: 0-19, 30-39; 1 object(s) without an offset range"


def test_listing_finds_day_folders_and_data_files_only(lake: Path, records: list[Record]) -> None:
    land(lake, records[:100], records_per_file=50)
    root = lake / LAKE_DATA_PREFIX
    (root / "dt=2016-04-12" / ".fitness-data+0+1-2.json.gz.123.tmp").write_bytes(b"partial")  # a write in flight
    (root / "dt=2016-04-12" / "notes.txt").write_text("not data")
    (root / "not-a-day").mkdir()
    (root / "dt=2016-13-45").mkdir()
    days = LocalRawZone(lake).days()
    assert [d.day for d in days] == ["2016-04-12"]
    assert all(o.name.endswith(".json.gz") and not o.name.startswith(".") for o in days[0].objects)


def test_layout_is_iceberg_v2_parquet_zstd_one_file_per_day(lake: Path, records: list[Record]) -> None:
    land(lake, records, records_per_file=11)
    compact(local_settings(lake))
    table = load_table(lake)
    assert table.metadata.format_version == 2
    assert [f.name for f in table.spec().fields] == [PARTITION_COLUMN]
    assert table.schema().as_struct() == iceberg_schema().as_struct()
    assert table.location().endswith(LAKE_CURATED_PREFIX.rstrip("/"))
    files = [t.file for t in table.scan().plan_files()]
    assert Counter(f.partition[0] for f in files) == dict.fromkeys(sorted({r["date"] for r in records}), 1)
    for data_file in files:
        metadata = pq.ParquetFile(data_file.file_path.removeprefix("file://")).metadata
        assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_maintenance_expires_old_snapshots_and_removes_orphans(lake: Path, records: list[Record]) -> None:
    offsets = land(lake, [r for r in records if r["time"] < "12:00:00"], records_per_file=11)
    compact(local_settings(lake))
    land(lake, [r for r in records if r["time"] >= "12:00:00"], records_per_file=11, first_offsets=offsets)
    compact(local_settings(lake))
    table = load_table(lake)
    replaced = {
        e.data_file.file_path
        for s in table.metadata.snapshots
        for m in s.manifests(table.io)
        for e in m.fetch_manifest_entry(table.io, discard_deleted=False)
    } - {t.file.file_path for t in table.scan().plan_files()}
    assert replaced, "the second run replaced a day's file"
    stray = lake / LAKE_CURATED_PREFIX / "data" / "dt=2016-04-12" / "00000-0-left-by-a-killed-run.parquet"
    stray.write_bytes(b"PAR1")
    snapshots = len(table.metadata.snapshots)

    # Everything before now is past the retention: the snapshots (but the current one) and the unreferenced files.
    done = maintain(table, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    table = load_table(lake)
    assert done.snapshots_expired == snapshots - 1 and len(table.metadata.snapshots) == 1
    assert done.orphan_files_removed >= len(replaced) + 1
    assert not stray.exists()
    assert not any(Path(p.removeprefix("file://")).exists() for p in replaced)
    assert len(_rows(lake)) == len(records), "the current snapshot still reads whole"
    assert compact(local_settings(lake)).commits == 0, "expiry kept what the next run needs to skip the days"


def test_young_unreferenced_files_are_kept(lake: Path, records: list[Record]) -> None:
    land(lake, records[:200], records_per_file=11)
    compact(local_settings(lake))
    in_flight = lake / LAKE_CURATED_PREFIX / "data" / "dt=2016-04-12" / "00000-0-being-written.parquet"
    in_flight.write_bytes(b"PAR1")
    assert compact(local_settings(lake, retention_hours=1)).maintenance.orphan_files_removed == 0
    assert in_flight.exists()
