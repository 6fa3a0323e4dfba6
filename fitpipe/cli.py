"""The `fitpipe` command: one entry point whose subcommands run each part of the local pipeline."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.queries import NamedQueryError
from fitpipe.errors import UserError

#: Each subcommand lives in its own module, which defines `register(subparsers)`. The module is imported only
#: when the command list is built, so a command's heavy imports cost nothing to the others.
COMMAND_MODULES: tuple[str, ...] = (
    "fitpipe.kafka.cli",
    "fitpipe.produce",
    "fitpipe.ingest",
    "fitpipe.realism",
    "fitpipe.consume",
    "fitpipe.catalog",
    "fitpipe.compact",
    "fitpipe.query",
    "fitpipe.report",
    "fitpipe.demo",
    "fitpipe.status",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fitpipe",
        description="Run the fitness pipeline on one machine: Kafka, producer, consumer, lake, queries, report.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, NamedQueryError) as exc:  # a mistake the user can fix: one line, no traceback
        print(f"fitpipe {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", UserError.exit_code)
    except KeyboardInterrupt:
        print(f"fitpipe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
