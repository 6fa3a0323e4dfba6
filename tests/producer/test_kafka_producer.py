"""The producer against the real broker: delivery, keys, topic creation, failures, and clean stops."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from core.schema import Record, decode, encode
from services.producer.kafka_producer import DeliveryFailed, ensure_topic, produce, produce_encoded
from services.producer.run import run
from services.producer.settings import ProducerSettings
from tests.conftest import REPO_ROOT
from tests.producer.conftest import SERVICE_COMMAND, producer_env, run_service
from tests.producer.kafka_helpers import end_offsets_total, partition_count, producer_settings, read_topic
from tests.strategies import sample_record

pytestmark = pytest.mark.integration


def standin_records(users: list[int], minutes: int) -> list[Record]:
    """A small stream in event-time order (minute by minute, users by id); not the simulator's data."""
    start = dt.datetime(2016, 4, 12)
    records = []
    for m in range(minutes):
        moment = start + dt.timedelta(minutes=m)
        for i, uid in enumerate(users):
            records.append(
                sample_record(
                    id=uid, date=moment.date().isoformat(), time=moment.strftime("%H:%M:%S"), steps=(m * 7 + i) % 120
                )
            )
    return records


def test_every_record_arrives_keyed_by_user_in_order(kafka_bootstrap: str, topic_name: str) -> None:
    users = [1503960366, 2022484408, 8877689391]
    records = standin_records(users, 300)
    summary = produce(records, producer_settings(kafka_bootstrap, topic_name, partitions=5, progress=True))
    assert (summary.records, summary.delivered, summary.errors) == (900, 900, 0)
    assert summary.bytes == sum(len(encode(r)) for r in records)

    assert partition_count(kafka_bootstrap, topic_name) == 5
    messages = read_topic(kafka_bootstrap, topic_name)
    assert len(messages) == len(records)
    by_key: dict[bytes, list[Record]] = {}
    partitions: dict[bytes, set[int]] = {}
    for message in messages:
        by_key.setdefault(message.key(), []).append(decode(message.value()))
        partitions.setdefault(message.key(), set()).add(message.partition())
    for uid in users:
        key = str(uid).encode()
        assert by_key[key] == [r for r in records if r["id"] == uid]  # all of them, in the order produced
        assert len(partitions[key]) == 1


def test_an_existing_topic_is_used_as_it_is(kafka_bootstrap: str, topic_name: str) -> None:
    assert ensure_topic(kafka_bootstrap, topic_name, 2) is True
    assert ensure_topic(kafka_bootstrap, topic_name, 4) is False
    produce(
        standin_records([1503960366], 10), producer_settings(kafka_bootstrap, topic_name, partitions=4, progress=False)
    )
    assert partition_count(kafka_bootstrap, topic_name) == 2
    assert len(read_topic(kafka_bootstrap, topic_name)) == 10


def test_pre_encoded_pairs_are_produced_as_given(kafka_bootstrap: str, topic_name: str) -> None:
    records = standin_records([1624580081, 1644430081], 50)
    pairs = [(str(r["id"]).encode(), encode(r)) for r in records]
    summary = produce_encoded(iter(pairs), producer_settings(kafka_bootstrap, topic_name, partitions=1, progress=False))
    assert summary.delivered == 100
    assert [(m.key(), m.value()) for m in read_topic(kafka_bootstrap, topic_name)] == pairs


def test_a_small_local_queue_holds_back_the_producer_without_losing_or_reordering(
    kafka_bootstrap: str, topic_name: str
) -> None:
    records = standin_records([1624580081, 1644430081, 1503960366], 700)
    pairs = [(str(r["id"]).encode(), encode(r)) for r in records]
    config = {"queue.buffering.max.messages": 300}
    summary = produce_encoded(
        iter(pairs), producer_settings(kafka_bootstrap, topic_name, partitions=3, progress=False), config=config
    )
    assert (summary.records, summary.delivered, summary.errors) == (2100, 2100, 0)
    by_key: dict[bytes, list[bytes]] = {}
    for message in read_topic(kafka_bootstrap, topic_name):
        by_key.setdefault(message.key(), []).append(message.value())
    assert by_key == {key: [v for k, v in pairs if k == key] for key in {k for k, _ in pairs}}


def test_delivery_failures_are_counted_and_raised(kafka_bootstrap: str, topic_name: str) -> None:
    # The broker refuses every batch: the topic takes no message larger than 64 bytes.
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, config={"max.message.bytes": "64"})])[topic_name].result(30)
    records = standin_records([1503960366, 2022484408], 40)
    with pytest.raises(DeliveryFailed) as failure:
        produce(records, producer_settings(kafka_bootstrap, topic_name, progress=False), flush_timeout=60)
    summary = failure.value.summary
    assert summary.errors >= 1
    assert summary.delivered + summary.errors == summary.records
    assert summary.delivered == 0
    assert "large" in (summary.first_error or "").lower()
    assert read_topic(kafka_bootstrap, topic_name) == []


@pytest.mark.slow
def test_records_go_to_the_partition_the_grouping_expects(kafka_bootstrap: str, topic_name: str) -> None:
    """The chunks are ordered, and each record sent to, the partition the client's default partitioner would pick
    (CRC-32 of the key modulo the partitions): the client itself agrees, so do the broker's placements, and each
    partition holds its records in the order they were given."""
    import zlib

    from confluent_kafka import Producer

    keys = [str(1_000_000_000 + n).encode() for n in range(40)]
    own = f"{topic_name}-own"
    ensure_topic(kafka_bootstrap, own, 5)
    with Producer({"bootstrap.servers": kafka_bootstrap}) as client:  # the client's own partitioner
        for key in keys:
            client.produce(own, b"", key)
        assert client.flush(30) == 0
    assert {m.key(): m.partition() for m in read_topic(kafka_bootstrap, own)} == {
        key: zlib.crc32(key) % 5 for key in keys
    }

    pairs = [(keys[n % len(keys)], f"record {n}".encode()) for n in range(6000)]
    summary = produce_encoded(pairs, producer_settings(kafka_bootstrap, topic_name, partitions=5, progress=False))
    assert summary.delivered == len(pairs)

    by_partition: dict[int, list[bytes]] = {}
    for message in read_topic(kafka_bootstrap, topic_name):
        assert message.partition() == zlib.crc32(message.key()) % 5, message.key()
        by_partition.setdefault(message.partition(), []).append(message.value())
    assert len(by_partition) == 5
    for partition, values in by_partition.items():
        given = [value for key, value in pairs if zlib.crc32(key) % 5 == partition]
        assert values == given, f"partition {partition} holds its records in the order given"


def test_backfill_of_33_users_for_7_days_delivers_every_record(kafka_bootstrap: str, topic_name: str) -> None:
    from services.producer.simulator import user_ids

    settings = ProducerSettings(
        bootstrap_servers=kafka_bootstrap, topic=topic_name, users=33, days=7, seed=7, progress=False
    )
    summary = run(settings)
    expected_per_user = 7 * 24 * 60
    assert (summary.records, summary.delivered, summary.errors) == (33 * expected_per_user,) * 2 + (0,)

    counts = Counter(m.key() for m in read_topic(kafka_bootstrap, topic_name))
    assert counts == {str(uid).encode(): expected_per_user for uid in user_ids(33, 7)}


def _log_lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("command", "stop_signal"),
    [
        (SERVICE_COMMAND, signal.SIGTERM),
        ([sys.executable, "-m", "fitpipe", "produce", "simulate", "--no-progress"], signal.SIGINT),
    ],
    ids=["container-sigterm", "cli-ctrl-c"],
)
def test_a_live_run_stops_cleanly_with_everything_flushed(
    kafka_bootstrap: str, topic_name: str, command: list[str], stop_signal: signal.Signals
) -> None:
    env = producer_env(
        PRODUCER_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PRODUCER_TOPIC=topic_name,
        PRODUCER_MODE="live",
        PRODUCER_SPEED="600",  # ten event minutes per second
        PRODUCER_START_DATE="2016-04-12",
        PRODUCER_USERS="5",
        PRODUCER_DAYS="2",
    )
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # Wait for the run to start, then let it produce for a while before stopping it.
        deadline = time.monotonic() + 60
        line = ""
        while '"event":"producing"' not in line and time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
            if not line and process.poll() is not None:
                break
        assert '"event":"producing"' in line, "the producer never started"
        time.sleep(2.0)
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    produced = [e for e in _log_lines(stderr) if e["event"] == "produced"]
    assert len(produced) == 1, stderr
    summary = produced[0]
    assert summary["stopped"] is True
    assert summary["errors"] == 0
    assert 0 < summary["delivered"] == summary["records"] < 5 * 2 * 1440
    assert len(read_topic(kafka_bootstrap, topic_name)) == summary["delivered"]


def test_a_backfill_stopped_by_sigterm_flushes_what_it_handed_over(kafka_bootstrap: str, topic_name: str) -> None:
    env = producer_env(
        PRODUCER_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PRODUCER_TOPIC=topic_name,
        PRODUCER_USERS="33",
        PRODUCER_DAYS="400",  # far more than it can send before the signal
    )
    process = subprocess.Popen(
        SERVICE_COMMAND, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while '"event":"producing"' not in line and time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
            if not line and process.poll() is not None:
                break
        assert '"event":"producing"' in line, "the producer never started"
        time.sleep(3.0)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    produced = [e for e in _log_lines(stderr) if e["event"] == "produced"]
    assert len(produced) == 1, stderr
    summary = produced[0]
    assert summary["stopped"] is True and summary["errors"] == 0
    assert 0 < summary["delivered"] == summary["records"] < 33 * 400 * 1440
    assert end_offsets_total(kafka_bootstrap, topic_name) == summary["delivered"]


def test_the_container_entry_replays_an_export(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    (tmp_path / "minuteStepsNarrow_merged.csv").write_text(
        "Id,ActivityMinute,Steps\n1503960366,4/12/2016 12:00:00 AM,5\n1503960366,4/12/2016 12:01:00 AM,0\n"
    )
    (tmp_path / "minuteIntensitiesNarrow_merged.csv").write_text(
        "Id,ActivityMinute,Intensity\n1503960366,4/12/2016 12:00:00 AM,1\n1503960366,4/12/2016 12:01:00 AM,0\n"
    )
    result = run_service(
        PRODUCER_BOOTSTRAP_SERVERS=kafka_bootstrap, PRODUCER_TOPIC=topic_name, PRODUCER_REPLAY_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    values = [decode(m.value()) for m in read_topic(kafka_bootstrap, topic_name)]
    assert [(v["time"], v["steps"], v["intensity"]) for v in values] == [("00:00:00", 5, 1), ("00:01:00", 0, 0)]


def test_undelivered_records_exit_non_zero_with_the_count(kafka_bootstrap: str, topic_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, config={"max.message.bytes": "64"})])[topic_name].result(30)
    result = run_service(
        PRODUCER_BOOTSTRAP_SERVERS=kafka_bootstrap, PRODUCER_TOPIC=topic_name, PRODUCER_USERS="2", PRODUCER_DAYS="1"
    )
    assert result.returncode == 1, result.stderr
    failed = [e for e in _log_lines(result.stderr) if e["event"] == "produce failed"]
    assert len(failed) == 1 and failed[0]["errors"] >= 1
    assert failed[0]["delivered"] + failed[0]["errors"] == failed[0]["records"]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("producer: error: ") and "errors" in last and "too large" in last.lower()
