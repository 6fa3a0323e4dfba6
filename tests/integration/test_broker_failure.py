"""A broker lost mid-run: against the three-node cluster, the producer (`python -m services.producer`, acks=all and
idempotence) and two consumer processes (`python -m services.consumer`, one group) run while the leader of a
partition is killed with SIGKILL. Production goes on and ends with every record acknowledged; the consumers go on
landing; once the node is started again and has rejoined, the lake holds every produced record exactly once.

The kill is triggered by progress, not by a clock: once the lake holds a few files, while the producer still runs.
The producer runs in live mode, paced by event time, so it is still producing when the kill lands and for a good
while after it."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from fitpipe.kafka import LocalCluster
from services.consumer.sinks import LocalSink
from services.producer.kafka_producer import producer_config
from services.producer.run import records_for
from services.producer.settings import ProducerSettings
from tests.conftest import REPO_ROOT
from tests.consumer.conftest import committed_offsets, identity_multiset, lake_records, start_consumer, wait_until
from tests.integration.conftest import cluster_bootstrap, restore_nodes, topic_partitions

pytestmark = pytest.mark.integration

PARTITIONS = 3
#: 10 users x 1 day = 14,400 records, paced at 3,600 event seconds per second: about 24 s of production.
USERS, DAYS, SPEED = 10, 1, 3600.0
FILES_BEFORE_KILL = 4


def producer_env(bootstrap: str, topic: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCER_")}
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
        "PRODUCER_TOPIC": topic,
        "PRODUCER_PARTITIONS": str(PARTITIONS),
        "PRODUCER_USERS": str(USERS),
        "PRODUCER_DAYS": str(DAYS),
        "PRODUCER_START_DATE": "2016-04-12",
        "PRODUCER_MODE": "live",
        "PRODUCER_SPEED": str(SPEED),
        "PRODUCER_PROGRESS": "false",
    }
    return env


def expected_records() -> list[dict]:
    settings = ProducerSettings(users=USERS, days=DAYS, start_date=dt.date(2016, 4, 12), mode="live", speed=SPEED)
    records, _total = records_for(settings)
    return list(records)


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"offsets-{uuid.uuid4().hex[:8]}"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)]
    finally:
        consumer.close()


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
    with open(tmp_path / "producer.log", "wb") as out:
        producer = subprocess.Popen([sys.executable, "-m", "services.producer"], env=producer_env(bootstrap, topic),
                                    cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
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
        expected = identity_multiset(expected_records())
        produced = sum(end_offsets(bootstrap, topic))
        assert produced == sum(expected.values()), f"{produced} records in the topic, {sum(expected.values())} sent"

        def caught_up() -> bool:
            return committed_offsets(bootstrap, f"group-{topic}", topic, PARTITIONS) == end_offsets(bootstrap, topic)

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
