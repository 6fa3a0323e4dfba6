"""A broker lost mid-run: against the three-node cluster, the producer (`python -m services.producer`, acks=all and
idempotence) and two consumer processes (`python -m services.consumer`, one group) run while the leader of a
partition is killed with SIGKILL. Production goes on and ends with every record acknowledged; the consumers go on
landing; once the node is started again and has rejoined, the lake holds every produced record exactly once.

The kill is triggered by progress, not by a clock: once the lake holds a few files, while the producer still runs.
The producer runs in live mode, paced by event time, so it is still producing when the kill lands and for a good
while after it."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from fitpipe.kafka import LocalCluster
from services.consumer.sinks import LocalSink
from services.producer.kafka_producer import producer_config
from tests.consumer.conftest import committed_offsets, identity_multiset, lake_records, start_consumer, wait_until
from tests.integration.conftest import (
    cluster_bootstrap,
    end_offsets,
    paced_records,
    restore_nodes,
    start_producer,
    topic_partitions,
)

pytestmark = pytest.mark.integration

PARTITIONS = 3
#: 10 users x 1 day = 14,400 records, paced at 3,600 event seconds per second: about 24 s of production.
USERS, SPEED = 10, 3600.0
FILES_BEFORE_KILL = 4


def test_a_broker_killed_mid_run_loses_and_duplicates_nothing(kafka_cluster: LocalCluster, tmp_path: Path) -> None:
    config = producer_config("unused")
    assert config["acks"] == "all" and config["enable.idempotence"] is True

    bootstrap = cluster_bootstrap(kafka_cluster)
    topic = f"broker-failure-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in (topic, f"{topic}.dlq"):
        admin.create_topics([NewTopic(name, num_partitions=PARTITIONS)])[name].result(30)
    victim = topic_partitions(bootstrap, topic, PARTITIONS)[0].leader

    lake = tmp_path / "lake"
    sink = LocalSink(lake)
    consumer_settings = {
        "CONSUMER_BOOTSTRAP_SERVERS": bootstrap,
        "CONSUMER_TOPIC": topic,
        "CONSUMER_GROUP_ID": f"group-{topic}",
        "CONSUMER_DLQ_TOPIC": f"{topic}.dlq",
        "CONSUMER_LAKE_DIR": str(lake),
        "CONSUMER_MAX_RECORDS_PER_FILE": "500",
        "CONSUMER_FLUSH_INTERVAL_S": "1",
        "CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "CONSUMER_RETRY_INITIAL_S": "0.2",
        "CONSUMER_LOG_INTERVAL_S": "2",
    }
    consumers = [start_consumer(consumer_settings, tmp_path / f"consumer-{n}.log") for n in range(2)]
    producer = start_producer(bootstrap, topic, PARTITIONS, USERS, SPEED, tmp_path / "producer.log")
    try:
        assert wait_until(lambda: len(list(sink.object_keys())) >= FILES_BEFORE_KILL, timeout=60, step=0.05), (
            "the consumers landed nothing:\n" + (tmp_path / "consumer-0.log").read_text()[-2000:]
        )
        assert producer.poll() is None, "the producer ended before the kill: it should still be producing"
        files_at_kill = len(list(sink.object_keys()))
        assert kafka_cluster.stop_node(victim, kill=True)

        assert producer.wait(120) == 0, (tmp_path / "producer.log").read_text()[-2000:]
        still = kafka_cluster.status()
        assert still is not None and victim not in still.nodes, "the node should still be down when production ends"
        assert len(list(sink.object_keys())) > files_at_kill, "nothing landed after the kill"

        kafka_cluster.start_node(victim)
        expected = identity_multiset(paced_records(USERS, SPEED))
        produced = sum(end_offsets(bootstrap, topic, PARTITIONS))
        assert produced == sum(expected.values()), f"{produced} records in the topic, {sum(expected.values())} sent"

        def caught_up() -> bool:
            return committed_offsets(bootstrap, f"group-{topic}", topic, PARTITIONS) == end_offsets(
                bootstrap, topic, PARTITIONS
            )

        logs = "\n".join((tmp_path / f"consumer-{n}.log").read_text()[-1500:] for n in range(2))
        assert wait_until(caught_up, timeout=120, step=0.5), f"the consumers did not catch up:\n{logs}"
    finally:
        for process in (producer, *consumers):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (producer, *consumers):
            process.wait(60)
        restore_nodes(kafka_cluster)

    assert [c.returncode for c in consumers] == [0, 0]
    landed = identity_multiset(lake_records(sink))
    missing, duplicated = expected - landed, landed - expected
    assert not missing and not duplicated, f"{sum(missing.values())} missing, {sum(duplicated.values())} extra"
