"""Consumer scale-out: records/s landed by 1 and by 2 consumer processes in one group, on the same backlog, in the
same run, and their ratio.

    python bench/consumer_scaling.py [--records 400000] [--partitions 6] [--bootstrap HOST:PORT]

Without --bootstrap (or $KAFKA_BOOTSTRAP_SERVERS) a local broker is started for the run. The topic is filled once;
then each run starts its processes (`python -m services.consumer`, a new group and lake each) and is timed from their
start until the group's committed offsets reach the end of every partition, group join included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from consumer_common import backlog, backlog_options

REPO_ROOT = Path(__file__).resolve().parent.parent


def offsets(bootstrap: str, topic: str, partitions: int, group: str) -> tuple[list[int], list[int]]:
    """The group's committed offsets and the end offsets, per partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = [tp.offset for tp in consumer.committed(tps, timeout=10)]
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        return committed, ends
    finally:
        consumer.close()


def run(bootstrap: str, topic: str, partitions: int, processes: int, lake: Path) -> float:
    """Seconds for `processes` consumer processes in one new group to land and commit the whole topic."""
    group = f"bench-scaling-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUMER_")}
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "CONSUMER_BOOTSTRAP_SERVERS": bootstrap,
        "CONSUMER_TOPIC": topic,
        "CONSUMER_GROUP_ID": group,
        "CONSUMER_DLQ_TOPIC": f"{topic}.dlq",
        "CONSUMER_LAKE_DIR": str(lake),
        "CONSUMER_FLUSH_INTERVAL_S": "1",
    }
    started = time.perf_counter()
    command = [sys.executable, "-m", "services.consumer"]
    procs = [
        subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    try:
        while True:
            committed, ends = offsets(bootstrap, topic, partitions, group)
            if committed == ends:
                return time.perf_counter() - started
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a consumer process exited before the topic was landed")
            time.sleep(0.2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)


def main() -> int:
    args = backlog_options(__doc__, records=400_000, partitions=6).parse_args()
    with backlog(args, "scaling") as (bootstrap, topic, scratch):
        load = os.getloadavg()[0]
        one = run(bootstrap, topic, args.partitions, 1, scratch / "lake-1")
        two = run(bootstrap, topic, args.partitions, 2, scratch / "lake-2")
        print(
            f"records: {args.records:,} in {args.partitions} partitions; cpus: {os.cpu_count()}; "
            f"load average before: {load:.2f}"
        )
        print("| consumer processes | wall s | records/s landed |")
        print("|---:|---:|---:|")
        print(f"| 1 | {one:.2f} | {args.records / one:,.0f} |")
        print(f"| 2 | {two:.2f} | {args.records / two:,.0f} |")
        print(f"ratio (2 / 1): {one / two:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
