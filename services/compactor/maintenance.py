"""The table's upkeep: expire snapshots older than the retention, then remove the files no snapshot references.

Every compaction leaves the day's previous data file behind for readers of older snapshots, and a run killed before
its commit leaves the files it wrote. Once the snapshots that reference a file have expired and the file is older
than the retention, nothing can read it any more and it is removed. A file younger than the retention is kept even
when nothing references it yet: it may belong to a commit in flight.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.table import Table


@dataclass(frozen=True)
class Maintenance:
    snapshots_expired: int
    orphan_files_removed: int


def _plain(location: str) -> str:
    """A location without its `file:` scheme, so that listed paths and referenced locations compare."""
    return location.removeprefix("file://").removeprefix("file:")


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata reaches: metadata files, manifest lists, manifests, data and delete files."""
    metadata = table.metadata
    found = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    found.update(s.statistics_path for s in metadata.statistics)
    for snapshot in metadata.snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            found.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                found.add(entry.data_file.file_path)
    return {_plain(path) for path in found}


def orphan_files(table: Table, older_than: dt.datetime) -> list[str]:
    """Files under the table's location that no metadata references and that are older than `older_than`."""
    from pyarrow.fs import FileSelector, FileType
    from pyiceberg.io.pyarrow import PyArrowFileIO

    scheme, netloc, path = PyArrowFileIO.parse_location(table.location())
    fs = table.io.fs_by_scheme(scheme, netloc)  # type: ignore[attr-defined]
    referenced = referenced_files(table)
    prefix = f"{scheme}://" if scheme not in ("file", "") else ""
    orphans = []
    for info in fs.get_file_info(FileSelector(path, recursive=True, allow_not_found=True)):
        if info.type != FileType.File or info.mtime is None:
            continue
        location = f"{prefix}{info.path}"
        mtime = info.mtime if info.mtime.tzinfo else info.mtime.replace(tzinfo=dt.UTC)
        if _plain(location) not in referenced and mtime < older_than:
            orphans.append(location)
    return sorted(orphans)


def maintain(table: Table, older_than: dt.datetime) -> Maintenance:
    """Expire the snapshots older than `older_than` (never the current one), then remove the orphan files."""
    current = table.current_snapshot()
    old = [
        s.snapshot_id
        for s in table.metadata.snapshots
        if s.timestamp_ms < older_than.timestamp() * 1000 and (current is None or s.snapshot_id != current.snapshot_id)
    ]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
    orphans = orphan_files(table, older_than)
    for location in orphans:
        table.io.delete(location)
    return Maintenance(len(old), len(orphans))
