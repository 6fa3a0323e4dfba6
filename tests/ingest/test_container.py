"""The ingest service's image, built with podman from `services/Dockerfile` on the stand-in base, run as an operator
runs it: records posted to it over HTTP are in Kafka when it answers 200."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import orjson

from fitpipe.kafka.broker import free_port
from services.ingest import keys
from tests.ingest.conftest import USERS, records
from tests.producer.kafka_helpers import read_topic

#: The image's user (services/Dockerfile): the key store it reads must be its own.
INGEST_UID = 10004


def test_the_image_takes_records_over_http_into_kafka(
    service_image, kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    from tests.containers import podman

    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    key, _ = keys.create(keys_dir / "keys.json", "test-device", list(USERS))
    for path in (keys_dir, keys_dir / "keys.json"):
        os.chown(path, INGEST_UID, INGEST_UID)
    port = free_port()
    name = f"ingest-{uuid.uuid4().hex[:8]}"
    env = {
        "INGEST_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "INGEST_TOPIC": topic_name,
        "INGEST_HOST": "127.0.0.1",
        "INGEST_PORT": str(port),
        "INGEST_KEYS_FILE": "/keys/keys.json",
    }
    command = [podman(), "run", "-d", "--name", name, "--network", "host", "-v", f"{keys_dir}:/keys:ro"]
    for k, v in env.items():
        command += ["-e", f"{k}={v}"]
    started = subprocess.run([*command, service_image("ingest")], capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            state = subprocess.run(
                [podman(), "inspect", "--format", "{{.State.Running}}", name], capture_output=True, text=True
            )
            logs = subprocess.run([podman(), "logs", name], capture_output=True, text=True)
            assert state.stdout.strip() == "true", f"the ingest container exited:\n{logs.stdout}{logs.stderr}"
            assert time.monotonic() < deadline, f"the ingest container never answered:\n{logs.stderr[-2000:]}"
            time.sleep(0.5)
        sent = records(50, USERS[0]) + records(25, USERS[1])
        answer = httpx.post(
            f"{url}/v1/records",
            content=orjson.dumps(sent),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 75, "refused": []}
        landed = read_topic(kafka_bootstrap, topic_name)
        assert sorted(orjson.loads(m.value())["time"] for m in landed if m.key() == str(USERS[1]).encode()) == sorted(
            r["time"] for r in sent[50:]
        )
        assert len(landed) == 75
        stopped = subprocess.run([podman(), "stop", "--time", "30", name], capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stderr
        code = subprocess.run(
            [podman(), "inspect", "--format", "{{.State.ExitCode}}", name], capture_output=True, text=True
        )
        assert code.stdout.strip() == "0", code.stdout
    finally:
        subprocess.run([podman(), "rm", "-f", name], capture_output=True, check=False)
