"""Latency of the ingest front end at half its maximum throughput, timed on the client's side by `hey` (Debian's
`hey` package, an HTTP load generator).

    python bench/ingest_latency.py [--records 100] [--seconds 20] [--bootstrap HOST:PORT]

Without --bootstrap it starts a local broker in a temporary folder. The body is 100 of the simulator's records as a
gzip-compressed JSON array. First `hey` runs closed-loop (16 connections, no pause) for the maximum requests/s; then
at half that rate (8 connections, each held to its share with `-q`) for the latency: p50 and p99 of the requests,
each answered 200 only once Kafka acknowledged its records (acks=all). Every answer must be a 200.

CPU split, with `taskset`: the broker and `hey` on CPU 0, the service on CPU 1. Target: p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from ingest_throughput import PARTITIONS, broker_on_cpu0, peak_rss_kib, pin, start_service

from fitpipe.ingest import request_bodies
from fitpipe.kafka.broker import free_port
from services.ingest import keys
from services.producer.kafka_producer import ensure_topic
from services.producer.settings import DEFAULT_BACKFILL_START
from services.producer.simulator import simulate_encoded, user_ids

TARGET_P99_MS = 100.0


def hey(url: str, key: str, body: Path, seconds: int, connections: int, qps: float | None = None) -> dict[str, float]:
    command = ["taskset", "-c", "0", "hey", "-cpus", "1", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST"]
    command += ["-T", "application/json", "-H", "Content-Encoding: gzip", "-H", f"Authorization: Bearer {key}"]
    command += ["-D", str(body), "-disable-compression"]
    if qps is not None:
        command += ["-q", f"{qps:.2f}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    if not statuses or any(code != "200" for code, _ in statuses):
        raise RuntimeError(f"not every answer was a 200:\n{out}")
    found = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50_ms": float(re.search(r"50% in ([\d.]+) secs", out)[1]) * 1000,
        "p99_ms": float(re.search(r"99% in ([\d.]+) secs", out)[1]) * 1000,
        "requests": sum(int(n) for _, n in statuses),
    }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--users", type=int, default=33)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    pin(0)
    pairs = simulate_encoded(args.users, DEFAULT_BACKFILL_START, 1, 42)
    values = [v for _, (_, v) in zip(range(args.records), pairs, strict=False)]
    (_, body), *_ = request_bodies(values, args.records)
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json.gz"
        body_file.write_bytes(body)
        broker, bootstrap = broker_on_cpu0(args.bootstrap, Path(tmp) / "kafka")
        store = Path(tmp) / "keys.json"
        key, _ = keys.create(store, "bench", user_ids(args.users, 42))
        topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
        ensure_topic(bootstrap, topic, PARTITIONS)
        port = free_port()
        service = start_service(bootstrap, topic, store, port, 1)
        url = f"http://127.0.0.1:{port}/v1/records"
        try:
            hey(url, key, body_file, 5, 16)  # warm-up
            peak = hey(url, key, body_file, args.seconds, 16)
            half = peak["rps"] / 2
            paced = hey(url, key, body_file, args.seconds, 8, half / 8)
            rss = peak_rss_kib(service.pid) / 1024
        finally:
            service.terminate()
            service.wait(30)
            if broker is not None:
                broker.stop()
    records_per_s = peak["rps"] * args.records
    print(f"maximum: {peak['rps']:,.0f} requests/s of {args.records} records ({records_per_s:,.0f} records/s)")
    print(
        f"at {paced['rps']:,.0f} requests/s (half): p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms "
        f"over {paced['requests']:,} requests (target p99 <= {TARGET_P99_MS:.0f} ms)  "
        f"{'ok' if paced['p99_ms'] <= TARGET_P99_MS else 'MISSED'}"
    )
    print(f"service peak RSS: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
