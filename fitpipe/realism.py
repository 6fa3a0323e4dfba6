"""`fitpipe realism`: simulate a cohort and check every statistic of the Fitabase acceptance criteria 1-9."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.schema import Record
from fitpipe.errors import UserError
from fitpipe.realism_checks import Check, evaluate
from services.producer.simulator import SimulationError, simulate_days

#: The real export's first day, so that weekdays fall as in the real data by default.
DEFAULT_START = dt.date(2016, 4, 12)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2016-04-12") from None


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
    if args.users < 1:
        raise UserError(f"--users must be at least 1 (got {args.users}); the real export has 33")
    if args.days < 1:
        raise UserError(f"--days must be at least 1 (got {args.days}); the real export covers 31")
    # Off a terminal (a file, a pipe), a wide table keeps one line per statistic.
    console = Console(width=None if sys.stdout.isatty() else 140)
    error_console = Console(stderr=True)
    try:
        checks = evaluate(_simulated(args.users, args.start, args.days, args.seed, error_console))
    except SimulationError as exc:
        raise UserError(str(exc)) from None
    failed = [check for check in checks if not check.passed]
    title = (
        f"Realism of {args.users} simulated users x {args.days} days from {args.start} (seed {args.seed}) "
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
    parser.add_argument("--users", type=int, default=33, help="number of simulated users (default: 33)")
    parser.add_argument("--days", type=int, default=31, help="number of days (default: 31)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same data")
    parser.add_argument(
        "--start", type=_date, default=DEFAULT_START, help="first day, YYYY-MM-DD (default: 2016-04-12)"
    )
    parser.set_defaults(func=_run)
