"""One compaction run: find the days whose raw objects changed since they were folded in, and replace each of them
in the curated table with one Iceberg commit.

What a commit folded in is written into its snapshot summary: the day, its raw objects (count, bytes, a digest of
the listing, the offset ranges their names carry) and, for every day of the table, the digest of the listing it was
built from (`fitness.folded`). The next run compares the raw zone with that map: a day whose listing is unchanged is
skipped, so a run with nothing new commits nothing, a late object makes its day due again, and a run killed before
its commit leaves the day due for the next one. The table is never in between: a commit is one atomic swap of the
table's metadata, which readers see whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from core.names import PARTITION_COLUMN
from services.common.logs import EventLog
from services.compactor.maintenance import Maintenance, maintain
from services.compactor.raw import CorruptObject, RawDay, RawZone, raw_zone, read_day
from services.compactor.settings import CompactorSettings
from services.compactor.table import ROW_KEY, SORT_KEY, arrow_schema, ensure_table, open_catalog

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table

log = EventLog("services.compactor")

#: Snapshot summary keys written by the compactor.
FOLDED: Final = "fitness.folded"
DAY: Final = "fitness.day"
RAW_OBJECTS: Final = "fitness.raw-objects"
RAW_BYTES: Final = "fitness.raw-bytes"
RAW_DIGEST: Final = "fitness.raw-digest"
RAW_RANGES: Final = "fitness.raw-ranges"
RAW_RECORDS: Final = "fitness.raw-records"
ROWS: Final = "fitness.rows"

_COMMIT_ATTEMPTS: Final = 5


class DaysFailed(Exception):
    """Days of a run were left out, each for a raw object that cannot be read; the other days were folded in."""

    def __init__(self, summary: CompactionSummary):
        days = ", ".join(f"dt={c.day} ({c.name})" for c in summary.failed)
        super().__init__(f"{len(summary.failed)} day(s) not compacted, each for an unreadable raw object: {days}")
        self.summary = summary


@dataclass(frozen=True)
class DayResult:
    day: str
    raw_objects: int
    raw_bytes: int
    raw_records: int
    rows: int  # after keeping one row per (id, date, time)
    seconds: float
    files_written: int  # the curated data files the commit added, and their bytes
    bytes_written: int


@dataclass
class CompactionSummary:
    days_seen: int = 0
    compacted: list[DayResult] = field(default_factory=list)
    maintenance: Maintenance | None = None
    failed: list[CorruptObject] = field(default_factory=list)  # the days left out, each with its unreadable object

    @property
    def commits(self) -> int:
        return len(self.compacted)


def folded_state(table: Table) -> dict[str, str]:
    """Day -> digest of the raw listing it was built from, as the newest compactor snapshot records it."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary
        if summary is not None and FOLDED in summary.additional_properties:
            return json.loads(summary.additional_properties[FOLDED])
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return {}


def due_days(days: list[RawDay], state: dict[str, str]) -> list[RawDay]:
    """The days whose listing differs from the one last folded in, oldest first."""
    return [d for d in days if d.objects and state.get(d.day) != d.digest]


def curate(records: pa.Table, day: str) -> pa.Table:
    """One row per (id, date, time), the first in raw order, sorted by user and minute, with the day column."""
    import pyarrow as pa

    indexed = records.append_column("__row", pa.array(range(records.num_rows), pa.int64()))
    first = indexed.group_by(list(ROW_KEY), use_threads=False).aggregate([("__row", "min")])
    kept = records.take(first["__row_min"]).sort_by([(name, "ascending") for name in SORT_KEY])
    kept = kept.append_column(PARTITION_COLUMN, pa.array([day] * kept.num_rows, pa.string()))
    return kept.cast(arrow_schema())


def _added_files(table: Table, since: int | None) -> tuple[int, int]:
    """The data files (and their bytes) the snapshots after `since` added, from their summaries."""
    files = size = 0
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id != since:
        summary = snapshot.summary.additional_properties if snapshot.summary is not None else {}
        files += int(summary.get("added-data-files", 0))
        size += int(summary.get("added-files-size", 0))
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return files, size


def _replace_day(table: Table, day: RawDay, rows: pa.Table, state: dict[str, str], raw_records: int) -> tuple[int, int]:
    """Swap the day's data files for the new ones in one commit, recording what was folded in. Returns the data
    files and bytes the commit added."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.expressions import EqualTo

    folded = dict(sorted({**state, day.day: day.digest}.items()))
    properties = {
        DAY: day.day,
        RAW_OBJECTS: str(len(day.objects)),
        RAW_BYTES: str(day.bytes),
        RAW_DIGEST: day.digest,
        RAW_RANGES: day.ranges(),
        RAW_RECORDS: str(raw_records),
        ROWS: str(rows.num_rows),
        FOLDED: json.dumps(folded, separators=(",", ":")),
    }
    for attempt in range(1, _COMMIT_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():  # a new day has nothing to delete, and pyiceberg says so
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                day_filter = EqualTo(PARTITION_COLUMN, day.day)
                before = table.current_snapshot()
                table.overwrite(rows, overwrite_filter=day_filter, snapshot_properties=properties)
            return _added_files(table, before.snapshot_id if before is not None else None)
        except CommitFailedException:  # another writer committed first: start from its metadata
            if attempt == _COMMIT_ATTEMPTS:
                raise
            log.warning("commit conflict, retrying", day=day.day, attempt=attempt)
            table.refresh()
            properties[FOLDED] = json.dumps({**folded_state(table), day.day: day.digest}, separators=(",", ":"))
    raise AssertionError("unreachable: the last attempt returns or raises")


def compact(
    settings: CompactorSettings,
    zone: RawZone | None = None,
    on_day: Callable[[RawDay, int], None] | None = None,
    on_objects: Callable[[int], None] | None = None,
    on_committed: Callable[[DayResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_failed: Callable[[CorruptObject], None] | None = None,
) -> CompactionSummary:
    """Fold every due day of the raw zone into the curated table, then expire old snapshots and orphan files.

    `on_day(day, number)` is called before each due day is read (for progress), `on_objects(n)` as objects are read,
    `on_committed(result)` once a day's commit is done (so a run that fails later still counts it). When
    `should_stop()` turns true, the days not yet begun are left for the next run (and so is the maintenance).

    A day with a raw object that cannot be read (a truncated gzip, a corrupt file) is not folded in, not even in
    part: it is logged once, naming the object, `on_failed(error)` counts it, and the other days go on. The run
    then raises `DaysFailed` instead of maintaining the table, so it counts as failed.
    """
    zone = zone or raw_zone(settings)
    catalog = open_catalog(settings)
    table = ensure_table(catalog, settings)
    days = zone.days()
    state = folded_state(table)
    due = due_days(days, state)
    summary = CompactionSummary(days_seen=len(days))
    log.info("raw zone listed", source=zone.description, days=len(days), due=len(due))
    for number, day in enumerate(due, start=1):
        if should_stop is not None and should_stop():
            log.info("stopping: the remaining days are left for the next run", days_left=len(due) - number + 1)
            return summary
        if on_day is not None:
            on_day(day, number)
        started = time.monotonic()
        try:
            records = read_day(zone, day, settings.read_threads, on_objects)
        except CorruptObject as exc:
            summary.failed.append(exc)
            if on_failed is not None:
                on_failed(exc)
            log.error(
                "day not compacted: a raw object cannot be read",
                day=day.day,
                object=f"dt={day.day}/{exc.name}",
                source=zone.description,
                error=f"{type(exc.error).__name__}: {exc.error}"[:300],
            )
            continue
        rows = curate(records, day.day)
        files_written, bytes_written = _replace_day(table, day, rows, state, records.num_rows)
        state = folded_state(table)
        result = DayResult(
            day.day,
            len(day.objects),
            day.bytes,
            records.num_rows,
            rows.num_rows,
            time.monotonic() - started,
            files_written,
            bytes_written,
        )
        summary.compacted.append(result)
        if on_committed is not None:
            on_committed(result)
        log.info(
            "day compacted",
            day=day.day,
            raw_objects=result.raw_objects,
            raw_records=result.raw_records,
            rows=result.rows,
            seconds=round(result.seconds, 2),
        )
    if summary.failed:
        raise DaysFailed(summary)
    if settings.maintenance:
        older_than = dt.datetime.now(dt.UTC) - dt.timedelta(hours=settings.retention_hours)
        summary.maintenance = maintain(table, older_than)
        log.info(
            "maintenance done",
            snapshots_expired=summary.maintenance.snapshots_expired,
            orphan_files_removed=summary.maintenance.orphan_files_removed,
        )
    return summary


def run(settings: CompactorSettings) -> CompactionSummary:
    summary = compact(settings)
    log.info("compaction done", days=summary.days_seen, commits=summary.commits)
    return summary
