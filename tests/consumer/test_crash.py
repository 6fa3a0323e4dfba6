"""Crashes (a soak test): 200,000 records; the consumer (`python -m services.consumer`) is killed with SIGKILL while
it writes a batch, and restarted each time; afterwards the lake holds exactly the produced multiset of
(id, date, time).

Batches of 2,500 records over 16 event dates are 16 objects each, so writing a batch takes a while. Each kill is
triggered by the lake itself, not by a clock: once it holds a seeded number of objects that falls inside a batch (a
few whole batches on from where the run started, then a few objects into the next), the consumer is killed at once,
while it writes the rest of that batch or before it commits it. No kill can land on an idle consumer: the kills
together cover fewer batches than the topic holds. The test asserts that kills hit batches in flight: the next run
wrote a range again. The consumer uses static group membership, so each restart takes the partitions back at once
instead of waiting for the killed member's session to expire.

The deterministic version of these crashes, one per protocol step, is `test_crash_matrix.py`.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from services.consumer.settings import ConsumerSettings
from services.consumer.sinks import LocalSink, S3Sink, Sink
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
RECORDS_PER_BATCH = 2500
DATES = 16  # event dates, so objects per batch
KILLS = 6
#: Each run is killed this many whole batches' worth of objects after it starts (drawn per run), plus a few objects
#: into the next batch; all runs together stay well under the topic's 80 batches.
BATCHES_BEFORE_KILL = (1, 6)
OBJECTS_INTO_THE_BATCH = (1, DATES // 2)


def _kill_while_writing(
    settings_env: dict[str, str], log_dir: Path, sink: Sink, rng: random.Random
) -> tuple[list[str], int]:
    """Run and kill the consumer KILLS times; the outcome of each run, and how many ranges were written again."""
    outcomes = []
    replays = 0
    for n in range(KILLS):
        log = log_dir / f"run-{n}.log"
        target = len(list(sink.object_keys())) + rng.randint(*BATCHES_BEFORE_KILL) * DATES
        target += rng.randint(*OBJECTS_INTO_THE_BATCH)
        process = start_consumer(settings_env, log)
        try:
            hit = wait_until(lambda target=target: len(list(sink.object_keys())) >= target, timeout=120, step=0.002)
            assert hit, f"run {n} never wrote {target} objects:\n{log.read_text()[-2000:]}"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        text = log.read_text()
        replays += text.count("writing again")
        outcomes.append(
            f"run {n}: killed at {target} objects in the lake, after {text.count('batch landed')} "
            f"batches landed; {text.count('writing again')} replays at its start"
        )
    return outcomes, replays


def _crash_and_recover(
    kafka_bootstrap: str, topic: str, tmp_path: Path, sink_env: dict[str, str], sink, seed: int
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=3)
    records = make_records(RECORDS, seed=2026, users=33, days=DATES)
    produce_records(kafka_bootstrap, topic, records)
    settings_env = {
        "CONSUMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CONSUMER_TOPIC": topic,
        "CONSUMER_GROUP_ID": f"group-{topic}",
        "CONSUMER_GROUP_INSTANCE_ID": f"lake-writer-{topic}",
        "CONSUMER_DLQ_TOPIC": f"{topic}.dlq",
        "CONSUMER_MAX_RECORDS_PER_FILE": str(RECORDS_PER_BATCH),
        "CONSUMER_FLUSH_INTERVAL_S": "1",
        "CONSUMER_LOG_INTERVAL_S": "1",
        "CONSUMER_LOG_BATCHES": "true",
        "CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "CONSUMER_RETRY_INITIAL_S": "0.2",
        **sink_env,
    }
    outcomes, replays = _kill_while_writing(settings_env, tmp_path, sink, random.Random(seed))
    print("\n".join(outcomes))

    # Last restart: run until caught up, in-process, with the same static member id.
    overrides = {k.removeprefix("CONSUMER_").lower(): v for k, v in settings_env.items()}
    summary = LakeWriter(ConsumerSettings(**overrides)).run(until_caught_up=True)
    print(f"final run: {summary}")
    replays += summary.batches_replayed
    assert replays > 0, "no kill hit a batch in flight:\n" + "\n".join(outcomes)

    landed = identity_multiset(lake_records(sink))
    expected = identity_multiset(records)
    missing, duplicated = expected - landed, landed - expected
    assert not missing and not duplicated, f"{sum(missing.values())} missing, {sum(duplicated.values())} extra"


def test_sigkill_while_writing_local_sink(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _crash_and_recover(kafka_bootstrap, topic_name, tmp_path, {"CONSUMER_LAKE_DIR": str(lake)}, LocalSink(lake), 1)


def test_sigkill_while_writing_s3_sink(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, bucket: str, moto_endpoint: str
) -> None:
    sink_env = {"CONSUMER_SINK": "s3", "CONSUMER_S3_BUCKET": bucket, "CONSUMER_S3_ENDPOINT_URL": moto_endpoint}
    _crash_and_recover(kafka_bootstrap, topic_name, tmp_path, sink_env, S3Sink(bucket, moto_endpoint), 2)
