"""Outage: the S3 server (moto, over HTTP) is stopped for 20 s mid-run and started again. The consumer keeps running,
retries, and the lake ends with every record exactly once.

A moto server keeps its state in memory, so a restarted one starts empty. To make the restart faithful (an S3
outage loses no stored objects), the server runs with moto's recorder on (`MOTO_ENABLE_RECORDING`, documented
under "Recorder" in moto's configuration docs): it appends every request it receives, bodies included, to a file.
The restarted server, given the same file, replays it (`POST /moto-api/recorder/replay-recording`) and so holds
the bucket and every object the first server stored before the stop. Requests that arrive during the replay go
on being recorded. The objects are then read back from the restarted server only.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import boto3
import pytest

from services.consumer.sinks import S3Sink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import (
    Background,
    create_topic,
    free_port,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    settings_for,
    start_moto,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 20.0


def test_s3_outage_of_20_seconds(kafka_bootstrap: str, topic_name: str, tmp_path: Path, aws_env: None) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    recording = {"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": str(tmp_path / "moto-recording")}
    server = start_moto(port, recording)
    try:
        bucket = "lake-outage"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        create_topic(kafka_bootstrap, topic_name, partitions=3)
        settings = settings_for(
            kafka_bootstrap,
            topic_name,
            sink="s3",
            s3_bucket=bucket,
            s3_endpoint_url=endpoint,
            max_records_per_file=1000,
            flush_interval_s=1.0,
        )
        sink = S3Sink(bucket, endpoint)
        before = make_records(20_000, seed=1)
        during = make_records(20_000, seed=2)
        after = make_records(10_000, seed=3)
        with Background(LakeWriter(settings)) as running:
            produce_records(kafka_bootstrap, topic_name, before)
            assert wait_until(lambda: len(lake_records(sink)) >= len(before), timeout=60)

            server.terminate()
            server.wait(10)
            produce_records(kafka_bootstrap, topic_name, during)  # arrives while S3 is down
            assert wait_until(lambda: running.writer.summary.storage_retries > 0, timeout=OUTAGE_S)
            wait_until(lambda: False, timeout=OUTAGE_S - 1)
            assert running.thread.is_alive(), "the consumer died during the outage"
            retries_during_outage = running.writer.summary.storage_retries

            server = start_moto(port, recording)
            urllib.request.urlopen(
                urllib.request.Request(f"{endpoint}/moto-api/recorder/replay-recording", method="POST"), timeout=120
            ).read()
            produce_records(kafka_bootstrap, topic_name, after)
            expected = identity_multiset(before + during + after)
            assert wait_until(lambda: identity_multiset(lake_records(sink)) == expected, timeout=90), (
                f"lake has {len(lake_records(sink))} of {sum(expected.values())} records"
            )
        assert retries_during_outage >= 3, "the outage was not felt"
        assert running.summary is not None and running.summary.records_out >= len(before + during + after)
    finally:
        server.terminate()
        server.wait(10)
