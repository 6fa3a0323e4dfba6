"""`fitpipe produce simulate|replay`: run the producer from the command line; flags override `PRODUCER_*`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from core.kafka_access import PRODUCER_USER
from fitpipe.errors import UserError
from fitpipe.settings_flags import SIGN_IN, SettingsFlags, add_settings_flags, kafka_client_settings
from services.common import kafka_logs, logs
from services.producer.kafka_producer import DeliveryFailed, KafkaUnavailable, format_summary
from services.producer.replay import ReplayError
from services.producer.settings import ProducerSettings

#: Exit code when records were not delivered (a user mistake exits with 2, from UserError).
EXIT_DELIVERY_FAILED = 1


def _settings(args: argparse.Namespace, **fixed: Any) -> ProducerSettings:
    """The settings from the flags given, over `fixed`, over `PRODUCER_*`; without a broker named anywhere, the one
    `fitpipe kafka start` runs (as the producer user when it runs with --secure)."""
    return kafka_client_settings(args, PRODUCER_USER, **fixed)


def _run(settings: ProducerSettings, verbose: bool) -> int:
    from services.producer.run import run

    logs.configure("services.producer")
    if verbose:
        kafka_logs.show_detail("services.producer")
    try:
        summary = run(settings)
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    except KafkaUnavailable as exc:
        raise UserError(f"{exc}: start one with `fitpipe kafka start`, or pass --bootstrap HOST:PORT") from None
    except DeliveryFailed as exc:
        print(format_summary(exc.summary), file=sys.stderr)
        print(f"fitpipe produce: error: delivery failed: {exc.summary.first_error}", file=sys.stderr)
        return EXIT_DELIVERY_FAILED
    print(format_summary(summary), file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    if args.via is not None:
        return _simulate_via(args)
    return _run(_settings(args, replay_dir=None), args.verbose)


def _simulate_via(args: argparse.Namespace) -> int:
    """The simulated backfill sent through the HTTP front end at `--via` instead of to Kafka."""
    import os

    from fitpipe.ingest import KEY_ENV, send_via
    from services.producer.run import backfill_pairs

    settings = args.settings_flags.settings(args, replay_dir=None)
    if settings.mode != "backfill":
        raise UserError("--via sends a backfill: leave out --mode live")
    if not args.via.startswith(("http://", "https://")):
        raise UserError(f"--via: {args.via!r} is not an http:// or https:// address")
    key = os.environ.get(KEY_ENV)
    if not key:
        raise UserError(f"--via needs an API key in {KEY_ENV} (from `fitpipe ingest keys create`)")
    totals = send_via(args.via, key, (value for _, value in backfill_pairs(settings)))
    print(
        f"{totals['records']:,} records through {args.via} in {totals['requests']:,} requests: "
        f"{totals['accepted']:,} accepted, {totals['refused']:,} refused",
        file=sys.stderr,
    )
    return 0 if totals["refused"] == 0 else EXIT_DELIVERY_FAILED


def _replay(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise UserError(f"{args.folder} is not a folder: give the folder of a Fitabase export (its CSV files)")
    return _run(_settings(args, replay_dir=args.folder), args.verbose)


#: What only a simulation reads; a replay takes its users and days from the export.
SIMULATION: Final = ("users", "user_ids", "seed", "start_date", "days")
#: Flags not spelled as their setting.
FLAG_NAMES: Final = {"bootstrap_servers": "--bootstrap"}
#: What `--bootstrap` defaults to in words.
_BOOTSTRAP_DEFAULT: Final = {"bootstrap_servers": "the broker `fitpipe kafka start` runs"}


def _add_flags(parser: argparse.ArgumentParser, exclude: tuple[str, ...]) -> SettingsFlags[ProducerSettings]:
    flags = add_settings_flags(
        parser,
        ProducerSettings,
        exclude=(*SIGN_IN, "replay_dir", *exclude),
        names=FLAG_NAMES,
        default_text=_BOOTSTRAP_DEFAULT,
        exclusive=[("users", "user_ids")],
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print librdkafka's log lines, retries included (or KAFKA_LOG_LEVEL=debug)",
    )
    parser.set_defaults(settings_flags=flags)
    return flags


def register(subparsers: argparse._SubParsersAction) -> None:
    produce = subparsers.add_parser(
        "produce",
        help="stream simulated or replayed records into Kafka",
        description="Stream records into Kafka. Every flag can also be set by its PRODUCER_* environment variable; "
        "a flag wins.",
    )
    sources = produce.add_subparsers(dest="source", metavar="SOURCE", required=True)

    simulate = sources.add_parser("simulate", help="simulate users and stream their minutes")
    _add_flags(simulate, exclude=())
    simulate.add_argument(
        "--via",
        metavar="URL",
        help="send the records through the HTTP front end at URL (`fitpipe ingest serve`), with the API key in "
        "FITPIPE_INGEST_KEY, instead of to Kafka",
    )
    simulate.set_defaults(func=_simulate)

    replay = sources.add_parser("replay", help="replay a Fitabase export folder (Kaggle file names)")
    replay.add_argument("folder", type=Path, help="folder of the export's CSV files")
    _add_flags(replay, exclude=SIMULATION)
    replay.set_defaults(func=_replay)
