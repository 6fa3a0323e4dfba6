"""`fitpipe demo`: the whole pipeline on one machine, in one command.

It starts a real Kafka broker, backfills a simulated cohort (or replays a Fitabase export) through the producer,
lands the stream in a local lake with the consumer until it has caught up, crawls the lake, compacts it into the
curated Iceberg table, runs every named query with DuckDB, writes the HTML report, and stops the broker, also on an
error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.names import CURATED_TABLE, GLUE_DATABASE, GLUE_TABLE, TOPIC
from core.queries import PER_USER_ID
from fitpipe.catalog import crawl, default_catalog, print_result
from fitpipe.errors import UserError
from fitpipe.kafka.broker import free_port
from fitpipe.settings_flags import add_settings_flags
from services.common import kafka_logs, logs
from services.common.stop import StopRequest
from services.consumer.settings import ConsumerSettings
from services.producer.settings import ProducerSettings

#: The demo's own seed (a cohort whose charts show a bit of everything); the other settings are the producer's.
DEMO_SEED = 7


@dataclass
class DemoPaths:
    out: Path

    @property
    def lake(self) -> Path:
        return self.out / "lake"

    @property
    def kafka_home(self) -> Path:
        return self.out / "kafka"

    @property
    def catalog(self) -> Path:
        return default_catalog(self.lake)

    @property
    def results(self) -> Path:
        return self.out / "results"

    @property
    def report(self) -> Path:
        return self.out / "report.html"


@dataclass
class DemoSummary:
    paths: DemoPaths
    bootstrap: str = ""
    produced: int = 0
    path: str = "the producer, a Kafka client"  # how the records reached Kafka
    landed: int = 0
    dead_letters: int = 0
    files: int = 0
    partitions: int = 0
    drift: list[str] = field(default_factory=list)
    queries: dict[str, int] = field(default_factory=dict)  # name -> rows
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds


class _Steps:
    """Prints each step as it starts and how long it took."""

    def __init__(self, console: Console, summary: DemoSummary, total: int):
        self.console, self.summary, self.total, self.index = console, summary, total, 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.index += 1
        self.console.rule(f"[bold]{self.index}/{self.total} {title}", align="left")
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        self.summary.seconds[title] = took
        self.console.print(f"[dim]{title}: {took:.1f} s[/dim]")


def _fresh(paths: DemoPaths) -> None:
    """Start from a clean slate, so that a second run lands the same records once, not twice."""
    from fitpipe.kafka import LocalBroker

    LocalBroker(paths.kafka_home).stop()  # one left running by a run that was killed; no-op otherwise
    for folder in (paths.lake, paths.kafka_home, paths.results):
        if folder.exists():
            shutil.rmtree(folder)
    paths.out.mkdir(parents=True, exist_ok=True)


def metrics_url(port: int | None) -> str:
    return f"http://127.0.0.1:{port}/metrics"


def demo_settings(args: argparse.Namespace) -> tuple[ProducerSettings, ConsumerSettings]:
    """The producer's backfill of the simulated cohort (or of the replayed export) and the consumer's landing in the
    demo's lake, from the flags over `PRODUCER_*` and `CONSUMER_*`. The broker is named once it runs."""
    from services.producer.simulator import user_ids

    lake = DemoPaths(args.out).lake
    fixed = {"topic": TOPIC, "mode": "backfill", "progress": True}
    producer: ProducerSettings = args.producer_flags.settings(args, **fixed)
    if producer.replay_dir is None:
        ids = user_ids(producer.users, producer.seed)
        if PER_USER_ID not in ids:
            ids[0] = PER_USER_ID  # so that the one-user query has someone to answer about
        producer = producer.model_copy(update={"user_ids": sorted(ids)})
    consumer: ConsumerSettings = args.consumer_flags.settings(args, topic=TOPIC, sink="local", lake_dir=lake)
    return producer, consumer


def _consume(console: Console, settings: ConsumerSettings, expected: int):
    from services.consumer import run

    console.print(f"consumer metrics at {metrics_url(settings.metrics_port)} while it runs")
    columns = (
        SpinnerColumn(),
        TextColumn("landing in the lake"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lag {task.fields[lag]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("consume", total=expected, lag="-")

        def show(summary, lag: int) -> None:
            progress.update(task, completed=summary.records_out + summary.dead_letters, lag=lag)

        summary = run(settings, until_caught_up=True, progress=show)
        progress.update(task, completed=summary.records_out + summary.dead_letters, lag=0)
    return summary


def _produce_via_http(
    console: Console, producer: ProducerSettings, bootstrap: str, paths: DemoPaths
) -> tuple[int, str]:
    """The simulated backfill sent through the ingest service (`python -m services.ingest`, started here and
    stopped after), with a key for the cohort's users. Returns the records accepted and the path taken."""
    import os
    import subprocess
    import sys

    import httpx

    from fitpipe.ingest import send_via
    from services.ingest import keys
    from services.producer.run import backfill_pairs

    assert producer.user_ids
    store = paths.out / "ingest-keys.json"
    key, _ = keys.create(store, "demo", producer.user_ids)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")} | {
        "INGEST_BOOTSTRAP_SERVERS": bootstrap,
        "INGEST_TOPIC": TOPIC,
        "INGEST_PARTITIONS": str(producer.partitions),
        "INGEST_PORT": str(port),
        "INGEST_KEYS_FILE": str(store),
        "INGEST_LOG_REQUESTS": "false",
    }
    url = f"http://127.0.0.1:{port}"
    log = paths.out / "ingest.log"
    with log.open("w") as out:
        service = subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if service.poll() is not None or time.monotonic() > deadline:
                raise UserError(f"the ingest service did not start; its log: {log}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        console.print(f"ingest front end at {url}, log in {log}")
        started = time.perf_counter()
        totals = send_via(url, key, (value for _, value in backfill_pairs(producer)))
        seconds = time.perf_counter() - started
    finally:
        service.terminate()
        service.wait(30)
    console.print(
        f"{totals['accepted']:,} records through {url} into {TOPIC} in {totals['requests']:,} requests, {seconds:.1f} s"
    )
    return totals["accepted"], f"HTTP front end at {url}, then Kafka"


def run_demo(args: argparse.Namespace, console: Console) -> DemoSummary:
    from fitpipe.compact import compact_lake
    from fitpipe.compact import print_summary as print_compaction
    from fitpipe.kafka import LocalBroker
    from fitpipe.query import named_queries, run_named_queries, write_csv
    from fitpipe.report import write_report

    producer_settings, consumer_settings = demo_settings(args)
    paths = DemoPaths(args.out)
    summary = DemoSummary(paths)
    steps = _Steps(console, summary, total=7 if args.bootstrap else 8)
    broker = None
    try:
        with steps.step("set-up"):
            _fresh(paths)
            if not named_queries():
                raise UserError("no named queries in sql/: run the demo from a clone of the repository")
            console.print(f"output in {paths.out.resolve()}")
        if args.bootstrap:
            summary.bootstrap = args.bootstrap
            console.print(f"using the Kafka broker at {args.bootstrap}")
        else:
            with steps.step("start Kafka"), console.status("starting Apache Kafka (KRaft) ..."):
                broker = LocalBroker(paths.kafka_home)
                summary.bootstrap = broker.start()
            console.print(f"broker ready at {summary.bootstrap}; logs in {broker.log_file}")

        from services.producer.replay import ReplayError
        from services.producer.run import run as produce

        replay, users, days = producer_settings.replay_dir, producer_settings.user_count, producer_settings.days
        source = f"replay of {replay}" if replay else f"{users} simulated users x {days} days"
        if args.via_http:
            if replay:
                raise UserError("--via-http sends the simulated cohort: leave out --replay")
            with steps.step(f"produce ({source}, through the HTTP front end)"):
                summary.produced, summary.path = _produce_via_http(console, producer_settings, summary.bootstrap, paths)
        else:
            with steps.step(f"produce ({source})"):
                # Each metrics port is picked just before its server binds it.
                update = {"bootstrap_servers": summary.bootstrap, "metrics_port": free_port()}
                settings = producer_settings.model_copy(update=update)
                console.print(f"producer metrics at {metrics_url(settings.metrics_port)} while it runs")
                with StopRequest().installed() as stop:  # Ctrl-C here stops the producer cleanly, then the demo
                    try:
                        produced = produce(settings, stop)
                    except ReplayError as exc:
                        raise UserError(str(exc)) from None
                if produced.stopped or stop.requested:
                    raise KeyboardInterrupt
                summary.produced = produced.delivered
                console.print(f"{produced.delivered:,} records delivered to {TOPIC} in {produced.seconds:.1f} s")

        with steps.step("consume until caught up"):
            update = {"bootstrap_servers": summary.bootstrap, "metrics_port": free_port()}
            settings = consumer_settings.model_copy(update=update)
            landed = _consume(console, settings, summary.produced)
            summary.landed, summary.dead_letters = landed.records_out, landed.dead_letters
            if summary.landed + summary.dead_letters < summary.produced:
                raise KeyboardInterrupt  # a stop signal ended the consumer before it caught up
            summary.files = landed.files_written
            console.print(
                f"{landed.records_out:,} records landed in {landed.files_written} files, "
                f"{landed.dead_letters} dead letters"
            )

        with steps.step("crawl"):
            crawled = crawl(paths.lake, paths.catalog)
            print_result(crawled)
            summary.partitions, summary.drift = len(crawled.partitions), crawled.drift.lines()

        with steps.step("compact into the curated table"):
            compacted = compact_lake(paths.lake, show_progress=console.is_terminal)
            print_compaction(compacted, paths.lake, console.print)

        with steps.step("run the named queries"):
            results = run_named_queries(paths.catalog)
            table = Table("named query", "rows", "CSV")
            for name, result in results.items():
                csv_path = paths.results / f"{name}.csv"
                write_csv(result, csv_path)
                summary.queries[name] = len(result.rows)
                table.add_row(name, str(len(result.rows)), str(csv_path))
            console.print(table)

        with steps.step("write the report"):
            write_report(results, paths.report, subtitle=f"Demo: {source}.")
    finally:
        if broker is not None:
            with console.status("stopping Kafka ..."):
                broker.stop()
            console.print("broker stopped")
    return summary


def print_summary(summary: DemoSummary, console: Console) -> None:
    paths = summary.paths
    table = Table(title="Where everything is", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("records came by", summary.path)
    table.add_row("report", str(paths.report.resolve()))
    table.add_row("lake", f"{paths.lake.resolve()} ({summary.landed:,} records, {summary.partitions} partitions)")
    table.add_row("catalog", f'{paths.catalog.resolve()} ("{GLUE_DATABASE}"."{GLUE_TABLE}")')
    table.add_row("curated table", f'{paths.lake.resolve()} ("{GLUE_DATABASE}"."{CURATED_TABLE}", Iceberg)')
    table.add_row("query results", f"{paths.results.resolve()} ({len(summary.queries)} CSV files)")
    if paths.kafka_home.exists():
        table.add_row("broker logs", str((paths.kafka_home / "logs").resolve()))
    table.add_row("try", f"fitpipe query sql/02_intensity_distribution.sql --lake {paths.lake}")
    console.print(table)
    if summary.produced != summary.landed + summary.dead_letters:
        console.print(f"[red]{summary.produced:,} records produced but {summary.landed:,} landed[/red]")
    total = sum(summary.seconds.values())
    console.print(f"[green]demo finished in {total:.0f} s[/green]")


def _interrupt(_signal_name: str, _repeated: bool) -> None:
    """SIGTERM between the steps ends the demo like Ctrl-C does: through `finally`, which stops the broker. (The
    producer and the consumer install their own handlers while they run and stop cleanly on either.)"""
    raise KeyboardInterrupt


#: The loggers of the clients the demo runs; librdkafka's lines go to `<name>.librdkafka` under each.
_CLIENT_LOGGERS = ("services.producer", "services.consumer", "fitpipe.kafka")


def _configure_logs(verbose: bool) -> None:
    """Warnings and errors of the producer and the consumer; with -v, their progress and librdkafka's detail."""
    for name in ("services", "fitpipe"):
        logs.configure(name, logging.INFO if verbose else logging.WARNING)
    if verbose:
        for name in _CLIENT_LOGGERS:
            kafka_logs.show_detail(name)


def _run(args: argparse.Namespace) -> int:
    _configure_logs(args.verbose)
    console = Console(stderr=True)
    with StopRequest(_interrupt).installed():
        summary = run_demo(args, console)
    print_summary(summary, console)
    return 0 if summary.produced == summary.landed + summary.dead_letters else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="the whole pipeline in one command: Kafka, producer, consumer, lake, crawl, queries, report"
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out; lake in out/lake)")
    producer_flags = add_settings_flags(
        parser,
        ProducerSettings,
        only=("users", "days", "start_date", "seed", "replay_dir", "partitions"),
        names={"start_date": "--start", "replay_dir": "--replay"},
        defaults={"seed": DEMO_SEED},
    )
    consumer_flags = add_settings_flags(parser, ConsumerSettings, only=("format",))
    parser.set_defaults(producer_flags=producer_flags, consumer_flags=consumer_flags)
    parser.add_argument("--bootstrap", default=None, help="use this Kafka broker instead of starting one")
    parser.add_argument(
        "--via-http",
        action="store_true",
        help="send the simulated records through the HTTP front end (`fitpipe ingest serve`, started and stopped "
        "here) instead of the producer",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the producer's, the consumer's and librdkafka's log lines"
    )
    parser.set_defaults(func=_run)
