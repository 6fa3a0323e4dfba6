"""Consumer scale-out: three consumer processes (`python -m services.consumer`) in one group share a 6-partition
topic on the three-node cluster while the producer (`python -m services.producer`, paced) fills it; one consumer is
killed with SIGKILL mid-run and a fourth joins; the lake holds every record exactly once.

The consumers join before the first record is sent, so each holds partitions from the start. The kill is triggered
by progress (the lake holds a few files) while the producer still runs; the killed member's partitions wait for its
session to time out (6 s), then go to the others and the newcomer."""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from fitpipe.kafka import LocalCluster
from services.consumer.sinks import LocalSink
from tests.consumer.conftest import committed_offsets, identity_multiset, lake_records, start_consumer, wait_until
from tests.integration.conftest import (
    cluster_bootstrap,
    end_offsets,
    paced_records,
    start_producer,
    topic_partitions,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6
#: 24 users x 1 day = 34,560 records (keyed by user, so every partition gets some), paced at 4,320 event seconds
#: per second: about 20 s of production.
USERS, SPEED = 24, 4320.0
FILES_BEFORE_KILL = 6


def _assigned_some(log: Path) -> bool:
    """True when the consumer's log shows it was assigned at least one partition."""
    return re.search(r'"partitions assigned".*"partitions":\{"\d', log.read_text()) is not None


def test_three_consumers_one_killed_one_added_land_every_record_once(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    bootstrap = cluster_bootstrap(kafka_cluster)
    topic = f"scale-out-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in (topic, f"{topic}.dlq"):
        admin.create_topics([NewTopic(name, num_partitions=PARTITIONS)])[name].result(30)
    topic_partitions(bootstrap, topic, PARTITIONS)

    lake = tmp_path / "lake"
    sink = LocalSink(lake)
    settings = {
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
    logs = [tmp_path / f"consumer-{n}.log" for n in range(4)]
    consumers = [start_consumer(settings, logs[n]) for n in range(3)]
    producer = None
    try:
        assert wait_until(lambda: all(_assigned_some(log) for log in logs[:3]), timeout=60, step=0.1), (
            "not every consumer got partitions:\n" + "\n".join(log.read_text()[-800:] for log in logs[:3])
        )
        producer = start_producer(bootstrap, topic, PARTITIONS, USERS, SPEED, tmp_path / "producer.log")
        assert wait_until(lambda: len(list(sink.object_keys())) >= FILES_BEFORE_KILL, timeout=60, step=0.05)
        assert producer.poll() is None, "the producer ended before the kill: it should still be producing"
        consumers[0].send_signal(signal.SIGKILL)
        consumers[0].wait(30)

        consumers.append(start_consumer(settings, logs[3]))
        assert wait_until(lambda: _assigned_some(logs[3]), timeout=60, step=0.1), logs[3].read_text()[-2000:]
        assert producer.wait(120) == 0, (tmp_path / "producer.log").read_text()[-2000:]

        def caught_up() -> bool:
            committed = committed_offsets(bootstrap, f"group-{topic}", topic, PARTITIONS)
            return committed == end_offsets(bootstrap, topic, PARTITIONS)

        assert wait_until(caught_up, timeout=120, step=0.5), "\n".join(log.read_text()[-800:] for log in logs)
    finally:
        for process in [*consumers, *([producer] if producer else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*consumers, *([producer] if producer else [])]:
            process.wait(60)

    assert [c.returncode for c in consumers[1:]] == [0, 0, 0]
    landed = identity_multiset(lake_records(sink))
    expected = identity_multiset(paced_records(USERS, SPEED))
    missing, duplicated = expected - landed, landed - expected
    assert not missing and not duplicated, f"{sum(missing.values())} missing, {sum(duplicated.values())} extra"
