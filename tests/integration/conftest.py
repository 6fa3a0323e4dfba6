"""A local three-node Kafka cluster, shared by the integration tests that stop and kill its nodes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.schema import Record
from fitpipe.kafka import LocalCluster
from services.producer.run import records_for
from services.producer.settings import ProducerSettings
from tests.conftest import REPO_ROOT

#: The first simulated day of a paced production run.
PACED_START = dt.date(2016, 4, 12)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three KRaft nodes (each broker and controller) started once for the session and stopped after it. A test
    that stops a node starts it again before it ends (`restore_nodes`)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def restore_nodes(cluster: LocalCluster) -> None:
    """Start whichever node a test left stopped, and wait until every partition has all its replicas in sync
    again, so the next test starts from a whole cluster."""
    for n in range(1, cluster.size + 1):
        cluster.start_node(n)
    assert wait_fully_replicated(cluster_bootstrap(cluster), timeout=120), "replicas did not catch up within 120 s"


def cluster_bootstrap(cluster: LocalCluster) -> str:
    state = cluster.status()
    assert state is not None, "no node of the cluster runs"
    return state.bootstrap


def under_replicated(bootstrap: str, topics: list[str] | None = None) -> list[str]:
    """The partitions (topic/partition) whose in-sync replicas are fewer than their replicas."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return [
        f"{name}/{p}"
        for name, topic in metadata.topics.items()
        if topics is None or name in topics
        for p, partition in topic.partitions.items()
        if len(partition.isrs) < len(partition.replicas)
    ]


def wait_fully_replicated(bootstrap: str, timeout: float, topics: list[str] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not under_replicated(bootstrap, topics):
            return True
        time.sleep(0.5)
    return False


def topic_partitions(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> dict:
    """The topic's partitions from the metadata, once every node it asks knows all `count` of them (a new topic
    reaches each broker's metadata a moment after it is created)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        if len(partitions) == count and all(p.leader >= 0 for p in partitions.values()):
            return partitions
        assert time.monotonic() < deadline, f"{topic} has {len(partitions)} of {count} partitions after {timeout} s"
        time.sleep(0.2)


def start_producer(
    bootstrap: str, topic: str, partitions: int, users: int, speed: float, log: Path
) -> subprocess.Popen[bytes]:
    """`python -m services.producer` in live mode from PACED_START: one simulated day of `users` users, paced at
    `speed` event seconds per second, so it runs for a known while (a day / `speed`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCER_")}
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
        "PRODUCER_TOPIC": topic,
        "PRODUCER_PARTITIONS": str(partitions),
        "PRODUCER_USERS": str(users),
        "PRODUCER_DAYS": "1",
        "PRODUCER_START_DATE": PACED_START.isoformat(),
        "PRODUCER_MODE": "live",
        "PRODUCER_SPEED": str(speed),
        "PRODUCER_PROGRESS": "false",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.producer"], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )


def paced_records(users: int, speed: float) -> list[Record]:
    """The records `start_producer` sends, from the same simulator and settings."""
    settings = ProducerSettings(users=users, days=1, start_date=PACED_START, mode="live", speed=speed)
    records, _total = records_for(settings)
    return list(records)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"offsets-{uuid.uuid4().hex[:8]}"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()
