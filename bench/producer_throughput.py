"""Backfill throughput of the producer, beside Kafka's own producer perf-test on the same broker.

    python bench/producer_throughput.py [--users 33] [--days 7] [--repeat 3] [--bootstrap HOST:PORT]

Without --bootstrap it starts a local broker (`fitpipe.kafka.LocalBroker`) in a temporary folder and stops it at the
end. It first warms the broker up with 300,000 of the backfill's records. Each repetition measures, on a fresh topic
of the same partitions:

1. the backfill exactly as `fitpipe produce simulate` runs it: simulation, serialisation and producing (acks=all,
   idempotence, the producer's compression and batching), timed from the first simulated day to the end of the flush;
2. `org.apache.kafka.tools.ProducerPerformance` (kafka-producer-perf-test, from the kafka-tools jar) sending as many
   records of the backfill's mean encoded size, with acks=all, idempotence and the same compression and batching;
3. the same perf-test sending the backfill's own JSON records (`--payload-file`), so that compression sees the same
   bytes;
4. each stage of the backfill alone (simulation, encoding, producing pre-encoded pairs), to show where time goes.

Beside each rate it prints records per CPU-second (the backfill's CPU time, librdkafka's threads and the simulating
process included; the perf-test JVM's whole CPU time), which a machine shared with other work disturbs far less than
wall-clock rates. It prints the medians and the ratios backfill / perf-test against the targets: at least 100,000
records/s, and at least 1.0 x the perf-test on the backfill's own JSON records (each run's ratio and their median).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fitpipe.kafka.broker import LocalBroker, fetch_jars, require_java
from services.common import logs
from services.producer.kafka_producer import ensure_topic, produce_encoded, producer_config
from services.producer.run import backfill_pairs, run
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings

TARGET_RATE = 100_000
TARGET_RATIO = 1.0
PARTITIONS = 3
#: Rounds of the 50,000 sample records sent to warm the broker up before the first measurement.
WARM_UP_ROUNDS = 6
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")

console = Console(stderr=True)


def backfill(bootstrap: str, users: int, days: int, compression: str) -> tuple[float, float, int, float]:
    """(records/s, mean encoded size, records, CPU seconds) of one simulated backfill into a fresh topic.

    CPU seconds are the process's (user + system, librdkafka's threads included) and its simulating process's.
    """
    topic = f"bench-backfill-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    settings = ProducerSettings(
        bootstrap_servers=bootstrap,
        topic=topic,
        users=users,
        days=days,
        seed=42,
        compression=compression,
        progress=False,
    )
    cpu = time.process_time() + _children_cpu()
    summary = run(settings)  # exactly what `fitpipe produce simulate` runs
    cpu = time.process_time() + _children_cpu() - cpu
    return summary.rate, summary.bytes / summary.records, summary.records, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stages(bootstrap: str, users: int, days: int, compression: str) -> dict[str, float]:
    """records/s of each stage alone: simulation, encoding, producing pre-encoded pairs (with the flush)."""
    from services.producer.encoding import encode_day
    from services.producer.simulator import simulate_days

    started = time.perf_counter()
    simulated = list(simulate_days(users, DEFAULT_BACKFILL_START, days, 42))
    simulate_s = time.perf_counter() - started
    started = time.perf_counter()
    pairs = [pair for day in simulated for pair in encode_day(day)]
    encode_s = time.perf_counter() - started
    topic = f"bench-stage-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    settings = ProducerSettings.model_construct(
        bootstrap_servers=bootstrap, topic=topic, partitions=PARTITIONS, progress=False, compression=compression
    )
    summary = produce_encoded(pairs, settings, create_topic=False)
    return {"simulate": len(pairs) / simulate_s, "encode": len(pairs) / encode_s, "produce": summary.rate}


def perf_test(
    bootstrap: str, records: int, record_size: int, compression: str, payload_file: Path | None
) -> tuple[float, float]:
    """(records/s, CPU seconds) of Kafka's ProducerPerformance with the producer's delivery and batching settings.

    CPU seconds are the JVM's whole run (start-up and JIT included), from the children's resource usage.
    """
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    ours = producer_config(bootstrap, compression)
    props = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": "true",
        "compression.type": compression,
        "linger.ms": ours["linger.ms"],
        "batch.size": ours["batch.size"],
    }
    size_args = ["--payload-file", str(payload_file)] if payload_file else ["--record-size", str(record_size)]
    command = [
        require_java(),
        "-Xmx1g",
        "-cp",
        f"{fetch_jars()}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--throughput",
        "-1",
        *size_args,
        "--producer-props",
        *[f"{k}={v}" for k, v in props.items()],
    ]
    cpu = _children_cpu()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = _children_cpu() - cpu
    matches = _PERF_LINE.findall(result.stdout)
    if result.returncode != 0 or not matches:
        raise SystemExit(f"ProducerPerformance failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    sent, rate, _ = matches[-1]
    if int(sent) != records:
        raise SystemExit(f"ProducerPerformance sent {sent} records, not {records}")
    return float(rate), cpu


def write_payloads(path: Path, users: int, days: int, limit: int = 50_000) -> None:
    """The backfill's first `limit` JSON records, one per line, for the perf-test's --payload-file."""
    with open(path, "wb") as out:
        for n, (_, value) in enumerate(backfill_pairs(ProducerSettings(users=users, days=days, seed=42))):
            if n >= limit:
                break
            out.write(value + b"\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=33)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compression", default="lz4")
    parser.add_argument("--bootstrap", help="an existing broker (default: start a local one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()
    logs.configure("services.producer", level="WARNING")

    home = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    broker = None if args.bootstrap else LocalBroker(home / "kafka")
    try:
        if broker:
            console.print("starting a local Kafka broker ...")
        bootstrap = args.bootstrap or broker.start()  # type: ignore[union-attr]
        payloads = home / "payloads.jsonl"
        write_payloads(payloads, args.users, args.days)
        # Warm up: a fresh broker answers the first idempotent producer only once its coordinators are loaded, and
        # its JVM runs slower until its hot paths are compiled. Without this the first run's backfill, which comes
        # before its perf-tests, paid for the broker's warm-up alone (about a tenth of its rate).
        warm_up = f"bench-warmup-{uuid.uuid4().hex[:8]}"
        ensure_topic(bootstrap, warm_up, PARTITIONS)
        sample = [(str(n % args.users).encode(), line) for n, line in enumerate(payloads.read_bytes().splitlines())]
        produce_encoded(
            sample * WARM_UP_ROUNDS,
            ProducerSettings.model_construct(
                bootstrap_servers=bootstrap, topic=warm_up, partitions=PARTITIONS, progress=False
            ),
            create_topic=False,
        )
        ours, sized, same, sizes = [], [], [], []
        cpu: dict[str, list[float]] = {"backfill": [], "perf": [], "perf_same": []}
        parts: dict[str, list[float]] = {"simulate": [], "encode": [], "produce": []}
        records = 0
        for run in range(1, args.repeat + 1):
            rate, size, records, backfill_cpu = backfill(bootstrap, args.users, args.days, args.compression)
            ours.append(rate)
            sizes.append(size)
            cpu["backfill"].append(records / backfill_cpu)
            perf_rate, perf_cpu = perf_test(bootstrap, records, round(size), args.compression, None)
            sized.append(perf_rate)
            cpu["perf"].append(records / perf_cpu)
            perf_rate, perf_cpu = perf_test(bootstrap, records, round(size), args.compression, payloads)
            same.append(perf_rate)
            cpu["perf_same"].append(records / perf_cpu)
            for stage, stage_rate in stages(bootstrap, args.users, args.days, args.compression).items():
                parts[stage].append(stage_rate)
            console.print(
                f"run {run}/{args.repeat}: backfill {rate:,.0f} rec/s; perf-test {sized[-1]:,.0f} rec/s "
                f"(random {round(size)} B), {same[-1]:,.0f} rec/s (our JSON records)"
            )
    finally:
        if broker:
            broker.stop()
        shutil.rmtree(home, ignore_errors=True)

    result = {
        "date": dt.date.today().isoformat(),
        "users": args.users,
        "days": args.days,
        "records": records,
        "repeat": args.repeat,
        "compression": args.compression,
        "mean_record_bytes": round(statistics.mean(sizes), 1),
        "backfill_records_per_s": round(statistics.median(ours)),
        "perf_test_records_per_s": round(statistics.median(sized)),
        "perf_test_same_payload_records_per_s": round(statistics.median(same)),
    }
    result["records_per_cpu_s"] = {name: round(statistics.median(rates)) for name, rates in cpu.items()}
    result["stages_records_per_s"] = {stage: round(statistics.median(rates)) for stage, rates in parts.items()}
    result["ratio"] = round(result["backfill_records_per_s"] / result["perf_test_records_per_s"], 3)
    result["ratio_same_payload"] = round(
        result["backfill_records_per_s"] / result["perf_test_same_payload_records_per_s"], 3
    )
    result["ratio_same_payload_per_run"] = [round(o / p, 3) for o, p in zip(ours, same, strict=True)]
    result["median_ratio_same_payload"] = round(statistics.median(result["ratio_same_payload_per_run"]), 3)
    result["meets_targets"] = (
        result["backfill_records_per_s"] >= TARGET_RATE and result["median_ratio_same_payload"] >= TARGET_RATIO
    )

    table = Table(
        title=f"Producer backfill, {args.users} users x {args.days} days = {records:,} records "
        f"(median of {args.repeat})"
    )
    table.add_column("measure")
    table.add_column("records/s", justify="right")
    table.add_column("backfill / it", justify="right")
    table.add_column("records per CPU-s", justify="right")
    per_cpu = result["records_per_cpu_s"]
    table.add_row(
        "backfill: simulate + encode + produce", f"{result['backfill_records_per_s']:,}", "", f"{per_cpu['backfill']:,}"
    )
    table.add_row(
        f"perf-test, {round(result['mean_record_bytes'])} B random records",
        f"{result['perf_test_records_per_s']:,}",
        f"{result['ratio']:.2f}",
        f"{per_cpu['perf']:,}",
    )
    table.add_row(
        "perf-test, the backfill's JSON records",
        f"{result['perf_test_same_payload_records_per_s']:,}",
        f"{result['ratio_same_payload']:.2f}",
        f"{per_cpu['perf_same']:,}",
    )
    for stage, label in (
        ("simulate", "stage alone: simulate (simulate_days)"),
        ("encode", "stage alone: encode (encode_day)"),
        ("produce", "stage alone: produce pre-encoded + flush"),
    ):
        table.add_row(label, f"{result['stages_records_per_s'][stage]:,}", "", "")
    console.print(table)
    verdict = "meets" if result["meets_targets"] else "MISSES"
    console.print(f"per run, backfill / perf-test on the same payloads: {result['ratio_same_payload_per_run']}")
    console.print(
        f"{verdict} the targets: >= {TARGET_RATE:,} records/s and >= {TARGET_RATIO} x the perf-test, same payloads"
    )
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
