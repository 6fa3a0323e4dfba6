"""Consumer memory: peak RSS of `python -m services.consumer`-equivalent process draining a 1,000,000-record backlog.

    python bench/consumer_memory.py [--records 1000000] [--partitions 3] [--bootstrap HOST:PORT]

The topic is filled first (the whole backlog waits in Kafka), then a fresh consumer process with the default
settings (jsonl.gz to a local lake) runs until caught up. Its peak resident set size is the kernel's high-water
mark (`VmHWM`), read while it runs, and `ru_maxrss` of the finished child.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from consumer_common import backlog, backlog_options

REPO_ROOT = Path(__file__).resolve().parent.parent
DRAIN = (
    "import sys; from services.consumer import ConsumerSettings, run; "
    "s = run(ConsumerSettings(), until_caught_up=True); print(s.records_out, s.files_written)"
)


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    args = backlog_options(__doc__, records=1_000_000, partitions=3).parse_args()
    with backlog(args, "memory") as (bootstrap, topic, scratch):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUMER_")}
        env.update(
            PYTHONPATH=str(REPO_ROOT),
            CONSUMER_BOOTSTRAP_SERVERS=bootstrap,
            CONSUMER_TOPIC=topic,
            CONSUMER_GROUP_ID=f"bench-{topic}",
            CONSUMER_LAKE_DIR=str(scratch / "lake"),
        )
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", DRAIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        peak_kib = 0
        while child.poll() is None:
            peak_kib = max(peak_kib, _vm_hwm_kib(child.pid))
            time.sleep(0.1)
        out = child.stdout.read().strip() if child.stdout else ""
        elapsed = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"the consumer failed (exit {child.returncode})")
        maxrss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        landed = int(out.split()[0])
        assert landed == args.records, out
        print(
            f"records: {args.records:,} in {args.partitions} partitions, drained in {elapsed:.1f} s "
            f"({out.split()[1]} files)"
        )
        print(
            f"peak RSS: {max(peak_kib, maxrss_kib) / 1024:.0f} MiB (VmHWM {peak_kib / 1024:.0f} MiB, "
            f"ru_maxrss {maxrss_kib / 1024:.0f} MiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
