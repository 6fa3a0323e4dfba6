"""Durability: the lake is append-only, and a topic created anew (a new Kafka cluster, offsets from 0 again) never
takes the names of the old one's objects.

The scenario runs on a broker of its own, which it stops and builds again from an empty home at the same address:
the session's broker is never touched. Both sinks are tried: a folder, and S3 through the moto server (with the
bucket versioned, as on AWS, so that a replaced object would show as a second version).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from confluent_kafka import KafkaException

from fitpipe.cli import main as fitpipe_main
from fitpipe.kafka import LocalBroker
from services.consumer.incarnation import topic_incarnation
from services.consumer.naming import object_key, parse_object_name
from services.consumer.sinks import LocalSink, ObjectConflict, S3Sink, Sink
from services.consumer.writer import ConsumerError, LakeWriter, Summary
from tests.consumer.conftest import (
    committed_offsets,
    create_topic,
    free_port,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    settings_for,
)

pytestmark = pytest.mark.integration

TOPIC = "fitness-data"
PARTITIONS = 3
KEY = object_key("2016-04-12", TOPIC, 0, "xeBkv2ZUR527rU5BKoPQAA", 0, 999, "json.gz")


def _versioned_bucket(endpoint: str, name: str) -> str:
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Sink, dict[str, object]]:
    """A sink and the consumer settings that land in it."""
    if request.param == "local":
        return LocalSink(tmp_path / "lake"), {"lake_dir": tmp_path / "lake"}
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = _versioned_bucket(endpoint, f"lake-{hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]}")
    return S3Sink(bucket, endpoint), {"sink": "s3", "s3_bucket": bucket, "s3_endpoint_url": endpoint}


def _fingerprints(sink: Sink) -> dict[str, tuple[object, ...]]:
    """Each object's bytes' hash; on S3 also its ETag and every version id the key has; in a folder also the file's
    inode and modification time (a file replaced, even by the same bytes, has another)."""
    found: dict[str, tuple[object, ...]] = {}
    for key in sink.object_keys():
        digest = hashlib.sha256(sink.get(key)).hexdigest()
        if isinstance(sink, S3Sink):
            etag = sink.client.head_object(Bucket=sink.bucket, Key=key)["ETag"]
            pages = sink.client.get_paginator("list_object_versions").paginate(Bucket=sink.bucket, Prefix=key)
            versions = tuple(v["VersionId"] for page in pages for v in page.get("Versions", []) if v["Key"] == key)
            found[key] = (digest, etag, versions)
        else:
            assert isinstance(sink, LocalSink)
            stat = (sink.root / key).stat()
            found[key] = (digest, stat.st_ino, stat.st_mtime_ns)
    return found


# -- the lake is append-only ---------------------------------------------------------------------------------------
def test_a_put_never_replaces_an_object(lake: tuple[Sink, dict[str, object]]) -> None:
    sink, _settings = lake
    assert sink.put(KEY, b"first bytes") is True
    before = _fingerprints(sink)
    assert sink.put(KEY, b"first bytes") is False, "the same bytes again: already written, accepted"
    with pytest.raises(ObjectConflict) as refused:
        sink.put(KEY, b"other bytes")
    assert KEY in str(refused.value) and "\n" not in str(refused.value)
    assert sink.get(KEY) == b"first bytes"
    assert _fingerprints(sink) == before  # on S3: the same ETag and still one version
    if isinstance(sink, LocalSink):
        assert [p.name for p in (sink.root / KEY).parent.iterdir()] == [Path(KEY).name], "no temporary file left"


def test_an_object_put_by_another_hand_is_compared_by_its_bytes(moto_endpoint: str) -> None:
    """An S3 object without the hash this sink keeps in the metadata is compared by its content."""
    bucket = _versioned_bucket(moto_endpoint, "lake-without-hash")
    sink = S3Sink(bucket, moto_endpoint)
    sink.client.put_object(Bucket=bucket, Key=KEY, Body=b"written elsewhere")
    assert sink.put(KEY, b"written elsewhere") is False
    with pytest.raises(ObjectConflict):
        sink.put(KEY, b"something else")


def test_the_consumer_stops_rather_than_rewrite_an_object(
    kafka_bootstrap: str, topic_name: str, lake: tuple[Sink, dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A key the consumer must write already holds other bytes: it stops with one line naming the key, the key
    keeps its bytes, and nothing is committed."""
    sink, sink_settings = lake
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    records = make_records(1000, seed=8, days=1)
    produce_records(kafka_bootstrap, topic_name, records)
    incarnation = topic_incarnation({"bootstrap.servers": kafka_bootstrap}, topic_name)
    key = object_key(records[0]["date"], topic_name, 0, incarnation, 0, len(records) - 1, "json.gz")
    sink.put(key, b"not what the consumer writes")
    settings = settings_for(kafka_bootstrap, topic_name, max_records_per_file=len(records), **sink_settings)

    with pytest.raises(ConsumerError, match=re.escape(key)):
        LakeWriter(settings).run(until_caught_up=True)
    assert sink.get(key) == b"not what the consumer writes"
    assert committed_offsets(kafka_bootstrap, settings.group_id, topic_name, 1) == [-1001]

    # The same through `fitpipe consume`: one line, no traceback, exit code 2.
    capsys.readouterr()
    arguments = [
        "consume",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        topic_name,
        "--group",
        settings.group_id,
        "--max-records-per-file",
        str(len(records)),
        "--until-caught-up",
    ]
    if isinstance(sink, S3Sink):
        arguments += ["--s3-bucket", sink.bucket, "--s3-endpoint-url", str(sink_settings["s3_endpoint_url"])]
    else:
        arguments += ["--lake", str(sink.root)]
    assert fitpipe_main(arguments) == 2
    err = capsys.readouterr().err.strip()
    # The warning line before it says the range was found written but not committed; the error is the last line.
    assert "Traceback" not in err and err.splitlines()[-1].startswith("fitpipe consume: error: refusing to overwrite")
    assert key in err.splitlines()[-1]
    assert sink.get(key) == b"not what the consumer writes"


# -- a cluster created anew ------------------------------------------------------------------------------------------
@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker only this test uses; the test may stop it, delete its home and start another in its place."""
    broker = LocalBroker(tmp_path / "kafka")
    try:
        yield broker
    finally:
        broker.stop()


def _land(settings, timeout: float = 180.0) -> Summary:
    """Run the consumer until it has caught up; fail, instead of hanging, if it does not get there."""
    writer = LakeWriter(settings)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = writer.run(until_caught_up=True)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        writer.force_stop.set()
        writer.stop_event.set()
        thread.join(30)
        pytest.fail(f"the consumer did not catch up within {timeout:.0f} s: {writer.summary}")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["summary"]  # type: ignore[return-value]


@pytest.mark.slow
def test_a_cluster_created_anew_lands_beside_the_old_one(
    own_broker: LocalBroker, tmp_path: Path, lake: tuple[Sink, dict[str, object]]
) -> None:
    sink, sink_settings = lake
    port = free_port()

    # The first cluster: one day of records, landed and committed.
    bootstrap = own_broker.start(port=port)
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS)
    first = make_records(6000, seed=3, days=1)
    produce_records(bootstrap, TOPIC, first)
    settings = settings_for(bootstrap, TOPIC, group_id="fitness-lake-writer", max_records_per_file=700, **sink_settings)
    assert _land(settings).records_out == len(first)
    first_incarnation = topic_incarnation({"bootstrap.servers": bootstrap}, TOPIC)
    first_objects = _fingerprints(sink)
    assert {parse_object_name(Path(k).name).incarnation for k in first_objects} == {first_incarnation}

    # The cluster is lost: a new broker from an empty home, at the same address; its offsets start at 0 again.
    own_broker.stop()
    shutil.rmtree(own_broker.home)
    assert own_broker.start(port=port) == bootstrap
    create_topic(bootstrap, TOPIC, partitions=PARTITIONS)
    assert _committed(bootstrap, settings.group_id) == [-1001] * PARTITIONS
    second = make_records(9000, seed=4, days=2)  # more than before: its ranges cover the old ones' offsets
    produce_records(bootstrap, TOPIC, second)

    # The same consumer group into the same lake.
    summary = _land(settings)
    assert summary.records_out == len(second)
    assert summary.batches_replayed == 0, "nothing of the old cluster is taken for this one's"
    assert _committed(bootstrap, settings.group_id) == _high_watermarks(bootstrap)

    second_incarnation = topic_incarnation({"bootstrap.servers": bootstrap}, TOPIC)
    assert second_incarnation != first_incarnation
    # Spelled as Kafka spells the topic's id (the broker writes it beside each partition's log).
    metadata = (own_broker.data_dir / f"{TOPIC}-0" / "partition.metadata").read_text()
    assert f"topic_id: {second_incarnation}" in metadata

    # Every row of both clusters, exactly once; the first cluster's objects untouched, bytes and versions.
    assert identity_multiset(lake_records(sink)) == identity_multiset(first + second)
    after = _fingerprints(sink)
    assert {k: after[k] for k in first_objects} == first_objects
    new_keys = after.keys() - first_objects.keys()
    assert new_keys and {parse_object_name(Path(k).name).incarnation for k in new_keys} == {second_incarnation}
    if isinstance(sink, S3Sink):
        assert all(len(versions) == 1 for _digest, _etag, versions in after.values())


def _committed(bootstrap: str, group: str) -> list[int]:
    """The group's committed offsets, once a new broker's group coordinator answers (NOT_COORDINATOR until then)."""
    for _attempt in range(60):
        try:
            return committed_offsets(bootstrap, group, TOPIC, PARTITIONS)
        except KafkaException:
            time.sleep(1)
    return committed_offsets(bootstrap, group, TOPIC, PARTITIONS)


def _high_watermarks(bootstrap: str) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(PARTITIONS)]
    finally:
        consumer.close()
