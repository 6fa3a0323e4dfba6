"""Crashes: 200,000 records; the consumer (`python -m services.consumer`) is killed with SIGKILL at random moments
and restarted each time; afterwards the lake holds exactly the produced multiset of (id, date, time).

Small batches (a few thousand records over 4 event dates, so 4 objects per batch) make the consumer write all the
time, so kills land during writes, between a write and its commit, and during recovery. The kill moments are drawn
from a seeded generator after the consumer has its partitions. The consumer uses static group membership, so each
restart takes the partitions back at once instead of waiting for the killed member's session to expire.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import LocalSink, S3Sink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import (
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    start_consumer,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 200_000
KILLS = 6


def _kill_at_random_moments(settings_env: dict[str, str], log_dir: Path, rng: random.Random) -> list[str]:
    outcomes = []
    for n in range(KILLS):
        log = log_dir / f"run-{n}.log"
        process = start_consumer(settings_env, log)
        try:
            assigned = wait_until(lambda log=log: b"partitions assigned" in log.read_bytes(), timeout=60, step=0.02)
            assert assigned, f"run {n} never got its partitions:\n{log.read_text()[-2000:]}"
            time.sleep(rng.uniform(0.05, 1.2))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        text = log.read_text()
        outcomes.append(f"run {n}: {text.count('batch landed')} batches landed, "
                        f"{text.count('writing again')} replays")  # fmt: skip
    return outcomes


def _crash_and_recover(
    kafka_bootstrap: str, topic: str, tmp_path: Path, sink_env: dict[str, str], sink, seed: int
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=3)
    records = make_records(RECORDS, seed=2026, users=33, days=4)
    produce_records(kafka_bootstrap, topic, records)
    settings_env = {
        "CONSUMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CONSUMER_TOPIC": topic,
        "CONSUMER_GROUP_ID": f"group-{topic}",
        "CONSUMER_GROUP_INSTANCE_ID": f"lake-writer-{topic}",
        "CONSUMER_DLQ_TOPIC": f"{topic}.dlq",
        "CONSUMER_MAX_RECORDS_PER_FILE": "2500",
        "CONSUMER_FLUSH_INTERVAL_S": "1",
        "CONSUMER_LOG_INTERVAL_S": "1",
        "CONSUMER_LOG_BATCHES": "true",
        "CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "CONSUMER_RETRY_INITIAL_S": "0.2",
        **sink_env,
    }
    outcomes = _kill_at_random_moments(settings_env, tmp_path, random.Random(seed))
    print("\n".join(outcomes))

    # Last restart: run until caught up, in-process, with the same static member id.
    overrides = {k.removeprefix("CONSUMER_").lower(): v for k, v in settings_env.items()}
    summary = LakeWriter(ConsumerSettings(**overrides)).run(until_caught_up=True)
    print(f"final run: {summary}")

    landed = identity_multiset(lake_records(sink))
    expected = identity_multiset(records)
    missing, duplicated = expected - landed, landed - expected
    assert not missing and not duplicated, f"{sum(missing.values())} missing, {sum(duplicated.values())} extra"


def test_sigkill_at_random_moments_local_sink(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _crash_and_recover(kafka_bootstrap, topic_name, tmp_path, {"CONSUMER_LAKE_DIR": str(lake)}, LocalSink(lake), 1)


def test_sigkill_at_random_moments_s3_sink(kafka_bootstrap: str, topic_name: str, tmp_path: Path, bucket: str,
                                           moto_endpoint: str) -> None:  # fmt: skip
    sink_env = {"CONSUMER_SINK": "s3", "CONSUMER_S3_BUCKET": bucket, "CONSUMER_S3_ENDPOINT_URL": moto_endpoint}
    _crash_and_recover(kafka_bootstrap, topic_name, tmp_path, sink_env, S3Sink(bucket, moto_endpoint), 2)
