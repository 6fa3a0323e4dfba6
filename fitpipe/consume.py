"""`fitpipe consume`: land the topic in the lake from the command line; flags override `CONSUMER_*` variables."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Final

from core.kafka_access import CONSUMER_USER
from fitpipe.errors import UserError
from fitpipe.settings_flags import SIGN_IN, add_settings_flags, kafka_client_settings
from services.common import kafka_logs
from services.consumer import logs
from services.consumer.settings import ConsumerSettings
from services.consumer.writer import ConsumerError, KafkaUnreachable, Summary, run


def _settings(args: argparse.Namespace) -> ConsumerSettings:
    """The settings from the flags given, over `CONSUMER_*`; without a broker named anywhere, the one `fitpipe kafka
    start` runs (as the consumer user when it runs with --secure). `--s3-bucket` lands in S3."""
    fixed: dict[str, Any] = {"sink": "s3"} if args.s3_bucket else {}
    return kafka_client_settings(args, CONSUMER_USER, **fixed)


def _consume(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logs.configure(level=logging.INFO if args.verbose else logging.WARNING)
    if args.verbose:
        kafka_logs.show_detail(logs.LOGGER_NAME)
    try:
        if args.until_caught_up and sys.stderr.isatty():
            summary = _with_progress(settings)
        else:
            summary = run(settings, until_caught_up=args.until_caught_up)
    except KafkaUnreachable as exc:
        raise UserError(f"{exc}: start one with `fitpipe kafka start`, or pass --bootstrap HOST:PORT") from None
    except ConsumerError as exc:
        raise UserError(str(exc)) from None
    where = f"s3://{settings.s3_bucket}" if settings.sink == "s3" else str(settings.lake_dir)
    print(
        f"landed {summary.records_out:,} records in {summary.files_written:,} files in {where}; "
        f"{summary.dead_letters:,} dead letters to {settings.dlq_topic}; {summary.seconds:.1f} s"
    )
    return 0


def _with_progress(settings: ConsumerSettings) -> Summary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("landing {task.fields[topic]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lag {task.fields[lag]:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("consume", total=None, topic=settings.topic, lag=0)

        def show(summary: Summary, lag: int) -> None:
            done = summary.records_out + summary.dead_letters
            progress.update(task, completed=done, total=done + lag, lag=lag)

        summary = run(settings, until_caught_up=True, progress=show)
        done = summary.records_out + summary.dead_letters
        progress.update(task, completed=done, total=done, lag=0)
    return summary


#: Flags not spelled as their setting.
FLAG_NAMES: Final = {
    "bootstrap_servers": "--bootstrap",
    "lake_dir": "--lake",
    "group_id": "--group",
    "flush_interval_s": "--flush-interval",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "consume",
        help="land the Kafka topic in the lake (a local folder, or S3), exactly once",
        description="Land the Kafka topic in the lake. Every flag can also be set by its CONSUMER_* environment "
        "variable; a flag wins.",
    )
    flags = add_settings_flags(
        parser,
        ConsumerSettings,
        exclude=SIGN_IN,
        names=FLAG_NAMES,
        default_text={
            "bootstrap_servers": "the broker `fitpipe kafka start` runs",
            "sink": "local, or s3 with --s3-bucket",
        },
    )
    parser.set_defaults(settings_flags=flags)
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once every partition is landed and committed up to its end (otherwise run until Ctrl-C)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the consumer's log lines and librdkafka's (or KAFKA_LOG_LEVEL=debug)",
    )
    parser.set_defaults(func=_consume)
