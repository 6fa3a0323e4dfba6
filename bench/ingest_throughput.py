"""Throughput of the ingest front end beside the direct producer, on the same simulated records and the same broker.

    python bench/ingest_throughput.py [--users 33] [--days 4] [--connections 16] [--repeat 3] [--bootstrap HOST:PORT]

Without --bootstrap it starts a local broker (`fitpipe.kafka.LocalBroker`) in a temporary folder and stops it at the
end. The simulator's backfill (`backfill_pairs`, as `fitpipe produce simulate` makes it) is encoded once, before any
timing, as gzip-compressed JSON arrays of 1,000 records. Each repetition, on fresh topics of the same partitions:

1. the front end: `python -m services.ingest` (Granian, one worker) with its own API key; `--connections` clients
   on HTTP/1.1 keep-alive connections post the bodies, each request waiting for its 200 (Kafka acknowledged every
   record, acks=all); timed from the first request to the last answer;
2. the direct producer: `produce_encoded` on the same (key, value) pairs (acks=all, idempotence, lz4), timed to the
   end of its flush.

The two cores are split with `taskset`: the broker and the HTTP clients on CPU 0, the service (or the direct
producer) on CPU 1, so each side has one core of its own and shares nothing with the broker. The service's peak
RSS (its processes' VmHWM) is read at the end of each run, and each side's CPU time (the service's processes from
/proc; the direct producer's own process, librdkafka's threads included), for records per CPU-second: a figure
that other work on a shared machine disturbs far less than the wall-clock rate. Prints the medians and the ratio
against the targets: at least 0.5 x the direct producer's records/s, and a peak RSS of at most 250 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console

from fitpipe.ingest import request_bodies
from fitpipe.kafka.broker import LocalBroker, free_port
from services.common import logs
from services.ingest import keys
from services.producer.kafka_producer import ensure_topic, produce_encoded
from services.producer.settings import DEFAULT_BACKFILL_START, ProducerSettings
from services.producer.simulator import simulate_encoded, user_ids

TARGET_RATIO = 0.5
TARGET_RSS_MIB = 250
PARTITIONS = 3
REPO = Path(__file__).resolve().parent.parent
console = Console(stderr=True)


def pin(cpu: int, pid: int | None = None) -> None:
    """Keep a process (this one by default) on one CPU, when the machine has it."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(pid or 0, {cpu})


def broker_on_cpu0(bootstrap: str | None, folder: Path) -> tuple[LocalBroker | None, str]:
    """The broker to measure against: `bootstrap` as given, or a local one started in `folder` with all its threads
    on CPU 0 (the caller stops it)."""
    if bootstrap is not None:
        return None, bootstrap
    broker = LocalBroker(folder)
    address = broker.start()
    state = broker.status()
    assert state is not None
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(state.pid)], check=True, capture_output=True)
    return broker, address


def _family(pid: int) -> list[int]:
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children (all their threads), from /proc."""
    total = 0
    for p in _family(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a process and its children (Granian's main process and its worker)."""
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


async def _client(host: str, port: int, key: str, bodies: list[bytes], queue: asyncio.Queue, failures: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST /v1/records HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
    ).encode()
    try:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = bodies[index]
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            answer = await reader.readexactly(length)
            if not status_line.startswith(b"HTTP/1.1 200"):
                failures.append(status_line + answer[:200])
    finally:
        writer.close()


async def post_all(url_port: int, key: str, bodies: list[bytes], connections: int) -> tuple[float, list]:
    queue: asyncio.Queue = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    failures: list = []
    started = time.perf_counter()
    await asyncio.gather(*(_client("127.0.0.1", url_port, key, bodies, queue, failures) for _ in range(connections)))
    return time.perf_counter() - started, failures


def start_service(bootstrap: str, topic: str, keys_file: Path, port: int, cpu: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")} | {
        "INGEST_BOOTSTRAP_SERVERS": bootstrap,
        "INGEST_TOPIC": topic,
        "INGEST_PORT": str(port),
        "INGEST_KEYS_FILE": str(keys_file),
        "INGEST_RATE_PER_CLIENT": "100000",
        "INGEST_RATE_BURST": "100000",
        "INGEST_LOG_REQUESTS": "false",
    }
    command = ["taskset", "-c", str(cpu), sys.executable, "-m", "services.ingest"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the ingest service did not start")


def front_end(bootstrap: str, bodies: list[bytes], records: int, users: list[int], connections: int, cpu: int):
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "keys.json"
        key, _ = keys.create(store, "bench", users)
        topic = f"bench-ingest-{uuid.uuid4().hex[:8]}"
        port = free_port()
        ensure_topic(bootstrap, topic, PARTITIONS)
        service = start_service(bootstrap, topic, store, port, cpu)
        try:
            cpu_before = cpu_seconds(service.pid)
            seconds, failures = asyncio.run(post_all(port, key, bodies, connections))
            cpu = cpu_seconds(service.pid) - cpu_before
            rss = peak_rss_kib(service.pid)
        finally:
            service.terminate()
            service.wait(30)
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[0]!r}")
    return records / seconds, records / cpu, rss / 1024


def direct(bootstrap: str, pairs: list[tuple[bytes, bytes]], cpu: int) -> tuple[float, float]:
    """The direct producer in a process of its own on `cpu`, as the front end's service runs on its own."""
    topic = f"bench-direct-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, PARTITIONS)
    settings = ProducerSettings.model_construct(bootstrap_servers=bootstrap, topic=topic, progress=False)
    pin(cpu)
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        summary = produce_encoded(iter(pairs), settings, total=len(pairs), create_topic=False)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        pin(0)
    assert summary.delivered == len(pairs)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    return len(pairs) / seconds, len(pairs) / cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=33)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    logs.configure("services.producer", level="WARNING")
    pin(0)
    pairs = list(simulate_encoded(args.users, DEFAULT_BACKFILL_START, args.days, 42))
    bodies = [body for _, body in request_bodies((v for _, v in pairs))]
    users = user_ids(args.users, 42)
    mean = sum(map(len, bodies)) / len(bodies)
    console.print(f"{len(pairs):,} records, {len(bodies):,} gzip bodies of 1,000 ({mean:,.0f} B each)")
    with tempfile.TemporaryDirectory() as tmp:
        broker, bootstrap = broker_on_cpu0(args.bootstrap, Path(tmp) / "kafka")
        try:
            direct(bootstrap, pairs[:200_000], 1)  # warm-up: the broker's first segments, the JIT
            rows = []
            for run in range(args.repeat):
                http_rate, http_cpu, rss = front_end(bootstrap, bodies, len(pairs), users, args.connections, 1)
                direct_rate, direct_cpu = direct(bootstrap, pairs, 1)
                rows.append((http_rate, direct_rate, rss, http_cpu, direct_cpu))
                console.print(
                    f"run {run + 1}: front end {http_rate:,.0f} records/s ({http_cpu:,.0f} per CPU-s), direct "
                    f"producer {direct_rate:,.0f} records/s ({direct_cpu:,.0f} per CPU-s), ratio "
                    f"{http_rate / direct_rate:.2f}, service peak RSS {rss:.0f} MiB"
                )
        finally:
            if broker is not None:
                broker.stop()
    http = statistics.median(r[0] for r in rows)
    dire = statistics.median(r[1] for r in rows)
    ratio = statistics.median(r[0] / r[1] for r in rows)
    rss = max(r[2] for r in rows)
    cpu_ratio = statistics.median(r[3] / r[4] for r in rows)
    print(f"front end: {http:,.0f} records/s (median of {len(rows)})")
    print(f"direct producer: {dire:,.0f} records/s")
    print(f"ratio: {ratio:.2f} x (target >= {TARGET_RATIO})  {'ok' if ratio >= TARGET_RATIO else 'MISSED'}")
    print(f"records per CPU-second, front end / direct producer: {cpu_ratio:.2f} x (median)")
    print(
        f"service peak RSS: {rss:.0f} MiB (target <= {TARGET_RSS_MIB})  {'ok' if rss <= TARGET_RSS_MIB else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
