"""`fitpipe realism`: simulate a cohort and check every statistic of the Fitabase acceptance criteria 1-9."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.schema import Record
from fitpipe.errors import UserError
from fitpipe.realism_checks import Check, evaluate
from fitpipe.settings_flags import add_settings_flags
from services.producer.sim_params import FITABASE_START
from services.producer.simulator import SimulationError, simulate_days


class RealismSettings(BaseModel):
    """The cohort to simulate and check; by default the real export's: 33 users, 31 days from its first day."""

    model_config = ConfigDict(extra="forbid")

    users: int = Field(33, description="number of simulated users")
    days: int = Field(31, description="number of days")
    seed: int = Field(0, description="random seed; the same seed gives the same data")
    start: dt.date = Field(FITABASE_START, description="first day, YYYY-MM-DD, so that weekdays fall as in the export")


def _simulated(users: int, start: dt.date, days: int, seed: int, console: Console) -> Iterator[Record]:
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("days"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulate", total=days)
        for day in simulate_days(users, start, days, seed):
            yield from day.records()
            progress.advance(task)


def render(checks: list[Check], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("statistic")
    table.add_column("simulated", justify="right")
    table.add_column("real", justify="right")
    table.add_column("band", justify="right")
    table.add_column("result")
    for check in checks:
        result = "[green]PASS[/green]" if check.passed else "[bold red]FAIL[/bold red]"
        table.add_row(str(check.criterion), check.name, check.shown(check.value), check.real, check.band, result)
    return table


def _run(args: argparse.Namespace) -> int:
    settings: RealismSettings = args.settings_flags.settings(args)
    if settings.users < 1:
        raise UserError(f"--users must be at least 1 (got {settings.users}); the real export has 33")
    if settings.days < 1:
        raise UserError(f"--days must be at least 1 (got {settings.days}); the real export covers 31")
    # Off a terminal (a file, a pipe), a wide table keeps one line per statistic.
    console = Console(width=None if sys.stdout.isatty() else 140)
    error_console = Console(stderr=True)
    try:
        checks = evaluate(_simulated(settings.users, settings.start, settings.days, settings.seed, error_console))
    except SimulationError as exc:
        raise UserError(str(exc)) from None
    failed = [check for check in checks if not check.passed]
    title = (
        f"Realism of {settings.users} simulated users x {settings.days} days from {settings.start} "
        f"(seed {settings.seed}) "
        "against the Fitabase export"
    )
    console.print(render(checks, title))
    console.print(
        f"{len(checks) - len(failed)} of {len(checks)} checks pass"
        + (f"; failing: {', '.join(check.name for check in failed)}" if failed else ".")
    )
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "realism",
        help="simulate users and check them against the real Fitbit statistics (exit 1 if any check fails)",
        description="Simulate N users x D days, compute each statistic of the Fitabase acceptance criteria 1-9 "
        "from the records, and print it beside the real figure and its band. Exit code 1 if any falls outside.",
    )
    parser.set_defaults(settings_flags=add_settings_flags(parser, RealismSettings))
    parser.set_defaults(func=_run)
