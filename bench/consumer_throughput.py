"""Consumer throughput: records/s landed as gzip JSON lines in a local lake, beside `kcat` dumping the same topic.

    python bench/consumer_throughput.py [--records 1000000] [--partitions 3] [--repeat 3] [--bootstrap HOST:PORT]

Without --bootstrap (or $KAFKA_BOOTSTRAP_SERVERS) a local broker is started for the run. The topic is filled once
(compressed with lz4, as the producer sends it), then read twice, each from the beginning: by `kcat -C -e` into a
file (the floor: reading and writing bytes, no parsing), and by the consumer (parse, validate, batch per date,
gzip, fsync, commit). Times are wall-clock from process start to exit (kcat) and from `run()` to its return
(consumer, group join included); the consumer's steady rate, from its first record to its last commit, is shown too.

With `--repeat N` the two readers take turns N times (kcat, consumer, kcat, consumer, ...), each consumer run with a
new group and lake, so each pair shares the machine's load of the same minute. It prints each pair's ratio and their
median against the target: the consumer lands at least 0.5 x kcat's records/s.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from consumer_common import backlog, backlog_options

from services.consumer import ConsumerSettings, LakeWriter, Summary

TARGET_RATIO = 0.5


def run_kcat(bootstrap: str, topic: str, out: Path) -> tuple[float, float]:
    kcat = shutil.which("kcat")
    if kcat is None:
        raise SystemExit("kcat is not installed (Debian: apt-get install kcat)")
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(out, "wb") as sink:
        subprocess.run(
            [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n"],
            stdout=sink,
            check=True,
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


def run_consumer(bootstrap: str, topic: str, lake: Path, gzip_level: int) -> tuple[Summary, float, float, float]:
    settings = ConsumerSettings(
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        lake_dir=lake,
        format="jsonl.gz",
        gzip_level=gzip_level,
    )
    first: list[float] = []

    def progress(summary: Summary, _lag: int) -> None:
        if summary.records_in and not first:
            first.append(time.perf_counter())

    cpu = time.process_time()  # all threads of this process: Python and librdkafka's
    started = time.perf_counter()
    summary = LakeWriter(settings, progress=progress).run(until_caught_up=True)
    ended = time.perf_counter()
    return summary, ended - started, ended - (first[0] if first else started), time.process_time() - cpu


def main() -> int:
    parser = backlog_options(__doc__, records=1_000_000, partitions=3)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs, kcat then the consumer (default 3)")
    parser.add_argument("--gzip-level", type=int, default=3)
    args = parser.parse_args()
    if args.repeat < 1 or args.records < 1:
        parser.error("--repeat and --records must be at least 1")
    n = args.records
    with backlog(args, "throughput") as (bootstrap, topic, scratch):
        print(f"records: {n:,} in {args.partitions} partitions; cpus: {os.cpu_count()}")
        print(
            "| run | load average before | kcat -C -e to a file, records/s | kcat CPU s "
            "| consumer, run to return, records/s | consumer, first record to last commit, records/s "
            "| consumer CPU s | consumer records per CPU-second | consumer / kcat |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ratios = []
        for run in range(1, args.repeat + 1):
            dump = scratch / "kcat.jsonl"
            load = os.getloadavg()[0]
            kcat_s, kcat_cpu = run_kcat(bootstrap, topic, dump)
            with open(dump, "rb") as dumped:
                lines = sum(1 for _ in dumped)
            if lines != n:
                raise SystemExit(f"kcat read {lines:,} records of {n:,}")
            lake = scratch / f"lake-{run}"
            summary, total_s, steady_s, cpu_s = run_consumer(bootstrap, topic, lake, args.gzip_level)
            if summary.records_out != n:
                raise SystemExit(f"the consumer landed {summary.records_out:,} records of {n:,}")
            shutil.rmtree(lake)
            ratio = (n / total_s) / (n / kcat_s)
            ratios.append(ratio)
            print(
                f"| {run} | {load:.2f} | {n / kcat_s:,.0f} | {kcat_cpu:.2f} | {n / total_s:,.0f} | "
                f"{n / steady_s:,.0f} | {cpu_s:.2f} | {n / cpu_s:,.0f} | {ratio:.2f} |",
                flush=True,
            )
        median = statistics.median(ratios)
        verdict = "meets" if median >= TARGET_RATIO else "misses"
        print(
            f"files: {summary.files_written}, bytes written: {summary.bytes_written:,}; "
            f"median consumer / kcat: {median:.2f} ({verdict} the {TARGET_RATIO} target)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
