"""The consumer's image against a broker: it lands what the topic holds in the lake folder it owns, and a stop
(SIGTERM, as `docker stop` sends) writes, commits and exits 0."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import KafkaException

from services.consumer.sinks import LocalSink
from tests.consumer.conftest import (
    committed_offsets,
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    wait_until,
)
from tests.containers import podman

#: The consumer's user in its image (services/Dockerfile).
CONSUMER_UID = 10002


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The records the group has committed; none while the broker has no coordinator for it yet (a fresh broker)."""
    try:
        return sum(max(offset, 0) for offset in committed_offsets(bootstrap, group, topic, 3))
    except KafkaException:
        return 0


def test_the_image_lands_the_topic_and_stops_cleanly(
    service_image, kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    records = make_records(3000, seed=11)
    create_topic(kafka_bootstrap, topic_name, partitions=3)
    produce_records(kafka_bootstrap, topic_name, records)
    lake = tmp_path / "lake"
    lake.mkdir()
    os.chown(lake, CONSUMER_UID, CONSUMER_UID)
    group = f"container-{uuid.uuid4().hex[:8]}"
    name = f"consumer-{uuid.uuid4().hex[:8]}"
    settings = {
        "CONSUMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CONSUMER_TOPIC": topic_name,
        "CONSUMER_GROUP_ID": group,
        "CONSUMER_DLQ_TOPIC": f"{topic_name}-dlq",
        "CONSUMER_FLUSH_INTERVAL_S": "2",
    }
    cmd = [podman(), "run", "-d", "--name", name, "--network", "host", "-v", f"{lake}:/data/lake"]
    for key, value in settings.items():
        cmd += ["-e", f"{key}={value}"]
    subprocess.run([*cmd, service_image("consumer")], check=True, capture_output=True, timeout=60)
    try:
        landed = wait_until(lambda: _committed(kafka_bootstrap, group, topic_name) == len(records), 180)
        stopped = subprocess.run(
            [podman(), "stop", "--time", "60", name], capture_output=True, text=True, timeout=90, check=False
        )
        state = subprocess.run(
            [podman(), "inspect", "--format", "{{.State.ExitCode}}", name], capture_output=True, text=True, check=True
        ).stdout.strip()
        logs = subprocess.run([podman(), "logs", name], capture_output=True, text=True, check=False).stderr
    finally:
        subprocess.run([podman(), "rm", "--force", name], capture_output=True, check=False)
    assert landed, f"the consumer's commits did not reach the topic's end:\n{logs[-3000:]}"
    assert stopped.returncode == 0 and state == "0", f"stop: {stopped.stderr}, exit code {state}:\n{logs[-2000:]}"
    assert identity_multiset(lake_records(LocalSink(lake))) == identity_multiset(records)
