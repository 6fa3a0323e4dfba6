"""The HTTP server under the ingest service: Granian (the service's) beside Uvicorn, on the same app, broker, body
and cores.

    python bench/ingest_servers.py

Starts a local broker on CPU 0, then, twice for each server in turn, the service on CPU 1 and `hey` (16
connections, 10 s, requests of 100 simulated records, gzip) on CPU 0: requests/s and p99. Then a client that sends
its headers a byte a second: does the server cut it off (Granian's header timeout, `INGEST_HEADER_READ_TIMEOUT_S`,
5 s), or keep it open?
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from ingest_throughput import PARTITIONS

from fitpipe.ingest import request_bodies
from fitpipe.kafka.broker import LocalBroker, free_port
from services.ingest import keys
from services.producer.kafka_producer import ensure_topic
from services.producer.settings import DEFAULT_BACKFILL_START
from services.producer.simulator import simulate_encoded, user_ids

SERVERS = {
    "granian": lambda port: [sys.executable, "-m", "services.ingest"],
    "uvicorn": lambda port: [
        *(sys.executable, "-m", "uvicorn", "--factory", "services.ingest.app:from_environment"),
        *("--port", str(port), "--no-access-log", "--log-level", "warning"),
    ],
}


def hey(port: int, key: str, body: Path) -> tuple[float, float, list]:
    command = ["taskset", "-c", "0", "hey", "-cpus", "1", "-z", "10s", "-c", "16", "-m", "POST"]
    command += ["-T", "application/json", "-H", "Content-Encoding: gzip", "-H", f"Authorization: Bearer {key}"]
    command += ["-D", str(body), "-disable-compression", f"http://127.0.0.1:{port}/v1/records"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = float(re.search(r"99% in ([\d.]+)", out)[1]) * 1000
    return rps, p99, re.findall(r"\[(\d+)\]\s+(\d+)", out)


def slow_headers(port: int) -> str:
    """What a client sending a header byte a second for 12 s sees."""
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    try:
        for _ in range(12):
            conn.sendall(b"X")
            time.sleep(1)
        return f"still open after {time.monotonic() - started:.0f} s"
    except OSError:
        return f"cut off after {time.monotonic() - started:.0f} s"
    finally:
        conn.close()


def main() -> int:
    tmp = Path(tempfile.mkdtemp())
    broker = LocalBroker(tmp / "kafka")
    bootstrap = broker.start()
    state = broker.status()
    assert state is not None
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(state.pid)], capture_output=True, check=True)
    pairs = simulate_encoded(33, DEFAULT_BACKFILL_START, 1, 42)
    values = [v for _, (_, v) in zip(range(100), pairs, strict=False)]
    ((_, body),) = request_bodies(values, 100)
    (tmp / "body").write_bytes(body)
    store = tmp / "keys.json"
    key, _ = keys.create(store, "bench", user_ids(33, 42))
    try:
        for server in [*SERVERS, *SERVERS]:
            topic = f"bench-servers-{uuid.uuid4().hex[:8]}"
            ensure_topic(bootstrap, topic, PARTITIONS)
            port = free_port()
            env = os.environ | {
                "INGEST_BOOTSTRAP_SERVERS": bootstrap,
                "INGEST_TOPIC": topic,
                "INGEST_PORT": str(port),
                "INGEST_KEYS_FILE": str(store),
                "INGEST_RATE_PER_CLIENT": "100000",
                "INGEST_RATE_BURST": "100000",
                "INGEST_LOG_REQUESTS": "false",
            }
            command = ["taskset", "-c", "1", *SERVERS[server](port)]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(300):
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.2)
                hey(port, key, tmp / "body")  # warm-up
                rps, p99, statuses = hey(port, key, tmp / "body")
                print(f"{server}: {rps:,.0f} requests/s, p99 {p99:.0f} ms, answers {statuses}", flush=True)
                print(f"{server}: slow headers {slow_headers(port)}", flush=True)
            finally:
                process.terminate()
                process.wait(30)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
