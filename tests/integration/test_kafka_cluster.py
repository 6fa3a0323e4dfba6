"""The local three-node cluster: every node a broker and a controller voter; a topic made with the defaults gets
three replicas and `min.insync.replicas` 2; with one node stopped the cluster still takes acks=all writes and
serves reads; the node, started again, rejoins and its replicas catch up."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from fitpipe.kafka import LocalCluster
from tests.integration.conftest import (
    cluster_bootstrap,
    restore_nodes,
    topic_partitions,
    under_replicated,
    wait_fully_replicated,
)

pytestmark = pytest.mark.integration

MESSAGES = 500


def _produce(bootstrap: str, topic: str, first: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 10})
    errors: list[str] = []
    for n in range(first, first + count):
        producer.produce(
            topic,
            value=str(n).encode(),
            key=str(n % 7).encode(),
            on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]


def _read_all(bootstrap: str, topic: str, expected: int) -> list[int]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(int(message.value()))
    finally:
        consumer.close()
    return values


def _leader(bootstrap: str, topic: str, partition: int) -> int:
    return (
        AdminClient({"bootstrap.servers": bootstrap})
        .list_topics(topic, timeout=10)
        .topics[topic]
        .partitions[partition]
        .leader
    )


def test_a_topic_has_three_replicas_and_outlives_a_stopped_node(kafka_cluster: LocalCluster) -> None:
    bootstrap = cluster_bootstrap(kafka_cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assert sorted(admin.list_topics(timeout=10).brokers) == [1, 2, 3]

    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, num_partitions=3)])[topic].result(30)  # the brokers' defaults
    partitions = topic_partitions(bootstrap, topic, 3)
    assert {p: sorted(partition.replicas) for p, partition in partitions.items()} == {p: [1, 2, 3] for p in range(3)}
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["min.insync.replicas"].value == "2"

    _produce(bootstrap, topic, 0, MESSAGES)
    victim = _leader(bootstrap, topic, 0)
    try:
        assert kafka_cluster.stop_node(victim)
        state = kafka_cluster.status()
        assert state is not None and sorted(state.nodes) == sorted({1, 2, 3} - {victim})
        survivors = state.bootstrap
        assert _leader(survivors, topic, 0) != victim
        assert under_replicated(survivors, [topic]), "the stopped node's replicas should be out of sync"
        _produce(survivors, topic, MESSAGES, MESSAGES)  # acks=all: two replicas in sync are enough
        assert sorted(_read_all(survivors, topic, 2 * MESSAGES)) == list(range(2 * MESSAGES))
        offsets = AdminClient({"bootstrap.servers": survivors}).list_topics("__consumer_offsets", timeout=10)
        groups = offsets.topics["__consumer_offsets"].partitions
        assert groups and all(len(partition.replicas) == 3 for partition in groups.values())

        kafka_cluster.start_node(victim)
        assert victim in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
        assert wait_fully_replicated(bootstrap, timeout=60, topics=[topic]), under_replicated(bootstrap, [topic])
    finally:
        restore_nodes(kafka_cluster)
