"""`fitpipe produce simulate|replay`: run the producer from the command line; flags override `PRODUCER_*`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fitpipe.errors import UserError
from services.common import kafka_logs, logs
from services.common.settings import KafkaCredentialsError
from services.producer.kafka_producer import DeliveryFailed, KafkaUnavailable, format_summary
from services.producer.replay import ReplayError
from services.producer.settings import ENV_PREFIX, ProducerSettings, describe_error

#: Exit code when records were not delivered (a user mistake exits with 2, from UserError).
EXIT_DELIVERY_FAILED = 1


def _local_broker() -> dict[str, str] | None:
    """The settings that reach the local broker `fitpipe kafka start` runs, if any (as the producer user when it runs
    with --secure)."""
    from core.kafka_access import PRODUCER_USER
    from fitpipe.kafka import LocalBroker, running_broker

    state = running_broker()
    if state is None:
        return None
    sign_in = LocalBroker(secure=True).client_settings(PRODUCER_USER) if state.secure else {}
    return {"bootstrap_servers": state.bootstrap, **sign_in}


def _settings(args: argparse.Namespace, overrides: dict[str, Any]) -> ProducerSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    if args.bootstrap:
        given["bootstrap_servers"] = args.bootstrap
    elif not os.environ.get(f"{ENV_PREFIX}BOOTSTRAP_SERVERS"):
        local = _local_broker()
        if local is None:
            raise UserError(
                "no Kafka broker given: start one with `fitpipe kafka start`, or pass --bootstrap HOST:PORT"
            )
        given = {**local, **given}
    try:
        settings = ProducerSettings(**given)
        settings.kafka_security()  # reads the credentials' secret, if one is named, once and now
    except ValidationError as exc:
        raise UserError(describe_error(exc)) from None
    except KafkaCredentialsError as exc:
        raise UserError(str(exc)) from None
    return settings


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


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "topic": args.topic,
        "partitions": args.partitions,
        "mode": args.mode,
        "speed": args.speed,
        "compression": args.compression,
        "progress": False if args.no_progress else None,
    }


def _simulate(args: argparse.Namespace) -> int:
    user_ids = args.user_ids
    settings = _settings(
        args,
        {
            **_common(args),
            "users": args.users,
            "user_ids": user_ids,
            "seed": args.seed,
            "start_date": args.start_date,
            "days": args.days,
            "replay_dir": None,
        },
    )
    return _run(settings, args.verbose)


def _replay(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise UserError(f"{args.folder} is not a folder: give the folder of a Fitabase export (its CSV files)")
    return _run(_settings(args, {**_common(args), "replay_dir": args.folder}), args.verbose)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (default: $PRODUCER_BOOTSTRAP_SERVERS or the broker `fitpipe kafka start` runs)",
    )
    parser.add_argument("--topic", help="topic (default: $PRODUCER_TOPIC or fitness-data); created if missing")
    parser.add_argument("--partitions", type=_positive_int, help="partitions when the topic is created (default 3)")
    parser.add_argument(
        "--mode",
        choices=("backfill", "live"),
        help="backfill: as fast as possible (default); live: one minute of records per minute, or faster with --speed",
    )
    parser.add_argument("--speed", type=float, help="live mode: event minutes per wall-clock minute (default 1)")
    parser.add_argument("--compression", choices=("lz4", "zstd", "gzip", "snappy", "none"), help="default lz4")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, log lines instead")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print librdkafka's log lines, retries included (or KAFKA_LOG_LEVEL=debug)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    produce = subparsers.add_parser(
        "produce",
        help="stream simulated or replayed records into Kafka",
        description="Stream records into Kafka. Every flag can also be set by its PRODUCER_* environment variable.",
    )
    sources = produce.add_subparsers(dest="source", metavar="SOURCE", required=True)

    simulate = sources.add_parser("simulate", help="simulate users and stream their minutes")
    _add_common(simulate)
    who = simulate.add_mutually_exclusive_group()
    who.add_argument("--users", type=_positive_int, help="number of simulated users (default 33)")
    who.add_argument("--user-ids", help="explicit user ids, comma separated")
    simulate.add_argument("--seed", type=int, help="the same seed always gives the same data (default 42)")
    simulate.add_argument("--start-date", type=_date, help="first day, YYYY-MM-DD (default 2016-04-12; live: today)")
    simulate.add_argument("--days", type=_positive_int, help="number of days (default 7)")
    simulate.set_defaults(func=_simulate)

    replay = sources.add_parser("replay", help="replay a Fitabase export folder (Kaggle file names)")
    replay.add_argument("folder", type=Path, help="folder of the export's CSV files")
    _add_common(replay)
    replay.set_defaults(func=_replay)
