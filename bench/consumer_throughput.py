"""Consumer throughput: records/s landed as gzip JSON lines in a local lake, beside `kcat` dumping the same topic.

    python bench/consumer_throughput.py [--records 1000000] [--partitions 3] [--bootstrap HOST:PORT]

Without --bootstrap (or $KAFKA_BOOTSTRAP_SERVERS) a local broker is started for the run. The topic is filled once
(compressed with lz4, as the producer sends it), then read twice, each from the beginning: by `kcat -C -e` into a
file (the floor: reading and writing bytes, no parsing), and by the consumer (parse, validate, batch per date,
gzip, fsync, commit). Times are wall-clock from process start to exit (kcat) and from `run()` to its return
(consumer, group join included); the consumer's steady rate, from its first record to its last commit, is shown too.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from consumer_common import broker, fill_topic

from services.consumer import ConsumerSettings, LakeWriter, Summary


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--gzip-level", type=int, default=3)
    args = parser.parse_args()
    with broker(args.bootstrap) as bootstrap, tempfile.TemporaryDirectory() as scratch:
        topic = f"bench-throughput-{uuid.uuid4().hex[:8]}"
        fill_topic(bootstrap, topic, args.records, args.partitions)
        dump = Path(scratch) / "kcat.jsonl"
        load = os.getloadavg()[0]
        kcat_s, kcat_cpu = run_kcat(bootstrap, topic, dump)
        with open(dump, "rb") as dumped:
            lines = sum(1 for _ in dumped)
        summary, total_s, steady_s, cpu_s = run_consumer(bootstrap, topic, Path(scratch) / "lake", args.gzip_level)
        assert summary.records_out == args.records, summary
        print(
            f"records: {args.records:,} in {args.partitions} partitions; cpus: {os.cpu_count()}; "
            f"load average before: {load:.2f}"
        )
        n = args.records
        print("| reader | wall s | records/s | CPU s | records per CPU-second |")
        print("|---|---:|---:|---:|---:|")
        print(
            f"| kcat -C -e to a file ({lines:,} lines) | {kcat_s:.2f} | {lines / kcat_s:,.0f} | {kcat_cpu:.2f} | "
            f"{lines / kcat_cpu:,.0f} |"
        )
        print(
            f"| consumer, gzip JSON lines, local lake (run to return) | {total_s:.2f} | {n / total_s:,.0f} | "
            f"{cpu_s:.2f} | {n / cpu_s:,.0f} |"
        )
        print(f"| consumer, first record to last commit | {steady_s:.2f} | {n / steady_s:,.0f} | | |")
        print(f"files: {summary.files_written}, bytes written: {summary.bytes_written:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
