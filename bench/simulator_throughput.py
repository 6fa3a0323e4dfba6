"""Throughput of the simulator's entry points, with no Kafka: how many records a second it can hand to a producer.

    python bench/simulator_throughput.py [--users 33] [--days 7] [--repeat 3]

For each entry point (numpy columns per day, one dict per record, Kafka key and value bytes) it prints the best of
`--repeat` runs as records per second of wall-clock time and per CPU-second of the process (less disturbed by other
work on a shared machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

from services.producer.simulator import simulate, simulate_days, simulate_encoded

START = dt.date(2016, 4, 12)


def _best(run: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        count = run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return count, best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=33)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    users, days, seed = args.users, args.days, args.seed
    entry_points: dict[str, Callable[[], int]] = {
        "simulate_days (numpy columns)": lambda: sum(len(day) for day in simulate_days(users, START, days, seed)),
        "simulate (one dict per record)": lambda: sum(1 for _ in simulate(users, START, days, seed)),
        "simulate_encoded (key, value bytes)": lambda: sum(1 for _ in simulate_encoded(users, START, days, seed)),
    }
    print(f"{users} users x {days} days, best of {args.repeat}")
    print("| entry point | records | records/s (wall) | records per CPU-second |")
    print("|---|---:|---:|---:|")
    for name, run in entry_points.items():
        count, wall, cpu = _best(run, args.repeat)
        print(f"| `{name}` | {count:,} | {count / wall:,.0f} | {count / cpu:,.0f} |")


if __name__ == "__main__":
    main()
