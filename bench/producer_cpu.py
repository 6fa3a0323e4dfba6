"""Where the backfill's CPU goes: per thread of the producer's process, its simulating process, and the broker.

    python bench/producer_cpu.py [--users 33] [--days 31] [--repeat 3]

Starts a local broker (`fitpipe.kafka.LocalBroker`) in a temporary folder, warms it up with one backfill, then runs
the backfill exactly as `fitpipe produce simulate` does (`services.producer.run.run`) `--repeat` times on fresh
topics of 3 partitions. For each run it prints the rate and the CPU microseconds per record of: each thread of this
process by name (`python` is the hand-over loop; `rdk:*` are librdkafka's), the simulating process, and the broker's
JVM; with the page faults of this process and of the simulating process, and the seconds the loop waited for the
simulating process's days. Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

from fitpipe.kafka.broker import LocalBroker
from services.common import logs
from services.producer import run as producer_run
from services.producer.kafka_producer import ensure_topic
from services.producer.settings import ProducerSettings

PARTITIONS = 3
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(stat_path: str) -> tuple[str, float]:
    """(name, user + system seconds) of a /proc stat file."""
    with open(stat_path) as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2 :].split()
    return text[text.index("(") + 1 : text.rindex(")")], (int(fields[11]) + int(fields[12])) / _TICK


def _threads(skip: int | None = None) -> dict[str, float]:
    """CPU seconds of each live thread of this process (but `skip`), by thread id and name."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        if tid == str(skip):
            continue
        try:
            name, seconds = _cpu(f"/proc/self/task/{tid}/stat")
        except OSError:  # the thread ended meanwhile
            continue
        found[f"{tid}:{name}"] = seconds
    return found


class _ThreadWatch:
    """Samples the threads' CPU while a run goes on: librdkafka's threads end with their client, before the end."""

    def __init__(self) -> None:
        self.before = _threads()
        self.last: dict[str, float] = dict(self.before)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        # Not itself: its own CPU would be counted as the hand-over loop's (all Python threads are named `python`).
        me = threading.get_native_id()
        while not self._done.wait(0.02):
            self.last.update(_threads(skip=me))

    def __enter__(self) -> _ThreadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.last.update(_threads())

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, seconds in self.last.items():
            name = key.partition(":")[2]
            totals[name] = totals.get(name, 0.0) + seconds - self.before.get(key, 0.0)
        return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=33)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logs.configure("services.producer", level="WARNING")

    waits: list[float] = []
    take_day = producer_run.BackfillDays.__next__

    def timed_day(days: producer_run.BackfillDays) -> producer_run.Chunk:
        started = time.perf_counter()
        try:
            return take_day(days)
        finally:
            waits.append(time.perf_counter() - started)

    producer_run.BackfillDays.__next__ = timed_day  # type: ignore[method-assign]

    home = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    broker = LocalBroker(home / "kafka")
    try:
        print("starting a local Kafka broker ...", flush=True)
        bootstrap = broker.start()
        state = broker.status()
        assert state is not None
        broker_stat = f"/proc/{state.pid}/stat"
        for run in range(args.repeat + 1):
            topic = f"bench-cpu-{uuid.uuid4().hex[:8]}"
            ensure_topic(bootstrap, topic, PARTITIONS)
            settings = ProducerSettings(
                bootstrap_servers=bootstrap, topic=topic, users=args.users, days=args.days, seed=42, progress=False
            )
            waits.clear()
            broker_before = _cpu(broker_stat)[1]
            self_before = resource.getrusage(resource.RUSAGE_SELF)
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with _ThreadWatch() as watch:
                summary = producer_run.run(settings)
            self_after = resource.getrusage(resource.RUSAGE_SELF)
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            broker_cpu = _cpu(broker_stat)[1] - broker_before
            if run == 0:
                print(f"warm-up: {summary.rate:,.0f} records/s (not counted)")
                continue
            per_record = 1e6 / summary.records
            child_cpu = (
                children_after.ru_utime + children_after.ru_stime - children_before.ru_utime - children_before.ru_stime
            )
            print(
                f"run {run}/{args.repeat}: {summary.rate:,.0f} records/s in {summary.seconds:.2f} s; the loop waited "
                f"{sum(waits):.2f} s for days ({waits[0]:.2f} s for the first)"
            )
            for name, seconds in sorted(watch.by_name().items(), key=lambda item: -item[1]):
                if seconds * per_record >= 0.005:
                    print(f"  thread {name:<18} {seconds * per_record:6.3f} µs/record")
            print(f"  simulating process        {child_cpu * per_record:6.3f} µs/record")
            print(f"  broker (JVM)              {broker_cpu * per_record:6.3f} µs/record")
            print(
                f"  page faults: this process {self_after.ru_minflt - self_before.ru_minflt:,}, "
                f"the simulating process {children_after.ru_minflt - children_before.ru_minflt:,}"
            )
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
