"""`fitpipe compact`: fold the local lake's raw zone into the curated Iceberg table (the compactor service, run
once, with the SQLite catalog in the lake folder)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from core.names import CURATED_TABLE, GLUE_DATABASE
from fitpipe.catalog import DEFAULT_LAKE
from fitpipe.errors import UserError
from services.common import logs
from services.common.settings import describe_error
from services.compactor.compactor import CompactionSummary, compact
from services.compactor.raw import LocalRawZone
from services.compactor.settings import ENV_PREFIX, CompactorSettings


def settings_for(lake: Path, retention_hours: float | None = None) -> CompactorSettings:
    overrides: dict[str, object] = {"catalog": "sql", "lake_dir": Path(lake)}
    if retention_hours is not None:
        overrides["retention_hours"] = retention_hours
    try:
        return CompactorSettings(**overrides)
    except ValidationError as exc:
        raise UserError(describe_error(exc, ENV_PREFIX)) from None


def compact_lake(lake: Path, retention_hours: float | None = None, show_progress: bool = False) -> CompactionSummary:
    """One compaction of a local lake, with a progress bar per due day when asked."""
    settings = settings_for(lake, retention_hours)
    zone = LocalRawZone(settings.lake_dir)
    if not zone.days():
        raise UserError(f"no raw data under {zone.root}: land data first (`fitpipe consume --lake {lake}`)")
    if not show_progress:
        return compact(settings, zone)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        current: list[int] = []

        def on_day(day, number: int) -> None:
            current[:] = [progress.add_task(f"dt={day.day}: reading raw objects", total=len(day.objects))]

        def on_objects(count: int) -> None:
            if current:
                progress.advance(current[0], count)

        return compact(settings, zone, on_day=on_day, on_objects=on_objects)


def print_summary(summary: CompactionSummary, lake: Path, emit: Callable[[str], object] = print) -> None:
    table = f'"{GLUE_DATABASE}"."{CURATED_TABLE}"'
    if not summary.compacted:
        emit(f"{table} is up to date with the {summary.days_seen} day(s) of {lake}: nothing to commit")
    for day in summary.compacted:
        emit(
            f"dt={day.day}: {day.raw_objects:,} raw objects, {day.raw_records:,} records -> "
            f"{day.rows:,} rows in one commit ({day.seconds:.1f} s)"
        )
    if summary.maintenance is not None:
        m = summary.maintenance
        emit(f"maintenance: {m.snapshots_expired} snapshot(s) expired, {m.orphan_files_removed} orphan file(s) removed")


def _run(args: argparse.Namespace) -> int:
    logs.configure("services.compactor", level=logging.INFO if args.verbose else logging.WARNING)
    summary = compact_lake(args.lake, args.retention_hours, show_progress=sys.stderr.isatty())
    print_summary(summary, args.lake)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compact", help="fold the lake's raw files into the curated Iceberg table, one commit per changed day"
    )
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE, help="the lake folder (default: out/lake)")
    parser.add_argument(
        "--retention-hours",
        type=float,
        default=None,
        help="expire snapshots and remove unreferenced files older than this (default: 24)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    parser.set_defaults(func=_run)
