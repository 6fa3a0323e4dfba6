"""Operation: SIGTERM flushes, commits and closes; the CLI and `python -m services.consumer` speak in one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fitpipe.cli import main as fitpipe_main
from services.consumer.sinks import LocalSink
from tests.conftest import REPO_ROOT
from tests.consumer.conftest import (
    committed_offsets,
    consumer_env,
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    start_consumer,
    wait_until,
)


@pytest.mark.integration
def test_sigterm_flushes_commits_and_exits(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    records = make_records(500, seed=9)
    produce_records(kafka_bootstrap, topic_name, records)
    settings = {
        "CONSUMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CONSUMER_TOPIC": topic_name,
        "CONSUMER_GROUP_ID": f"group-{topic_name}",
        "CONSUMER_LAKE_DIR": str(tmp_path),
        "CONSUMER_FLUSH_INTERVAL_S": "3600",
        "CONSUMER_LOG_INTERVAL_S": "0.2",
    }
    log = tmp_path / "consumer.log"
    process = start_consumer(settings, log)
    try:
        assert wait_until(lambda: b'"records_in":500' in log.read_bytes(), timeout=60), log.read_text()[-2000:]
        assert lake_records(LocalSink(tmp_path)) == [], "nothing is due before the flush interval"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(records)
    assert sum(committed_offsets(kafka_bootstrap, f"group-{topic_name}", topic_name, 2)) == len(records)
    assert b"consumer stopped" in log.read_bytes()


@pytest.mark.integration
def test_fitpipe_consume_until_caught_up(kafka_bootstrap: str, topic_name: str, tmp_path: Path, capsys) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=3)
    records = make_records(2000, seed=4)
    produce_records(kafka_bootstrap, topic_name, records)
    group = f"group-{topic_name}"
    code = fitpipe_main(
        [
            "consume",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic_name,
            "--group",
            group,
            "--lake",
            str(tmp_path),
            "--format",
            "parquet",
            "--until-caught-up",
        ]
    )
    assert code == 0
    assert "landed 2,000 records" in capsys.readouterr().out
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset(records)
    assert all(key.endswith(".parquet") for key in LocalSink(tmp_path).object_keys())


@pytest.mark.integration
def test_fitpipe_consume_names_a_missing_topic_in_one_line(kafka_bootstrap: str, tmp_path: Path, capsys) -> None:
    code = fitpipe_main(
        [
            "consume",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            "no-such-topic-here",
            "--lake",
            str(tmp_path),
            "--until-caught-up",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "topic 'no-such-topic-here' does not exist" in err


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.consumer"],
        env=consumer_env({"CONSUMER_SINK": "s3"}),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CONSUMER_S3_BUCKET is required" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("rule", ["records", "bytes"])
def test_rotation_by_records_and_by_bytes(kafka_bootstrap: str, topic_name: str, tmp_path: Path, rule: str) -> None:
    from services.consumer.writer import LakeWriter
    from tests.consumer.conftest import decode_object, settings_for

    create_topic(kafka_bootstrap, topic_name, partitions=1)
    records = make_records(3000, seed=8, days=1)
    produce_records(kafka_bootstrap, topic_name, records)
    limit = {"records": {"max_records_per_file": 400}, "bytes": {"max_bytes_per_file": 16_384, "format": "jsonl"}}
    LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, **limit[rule])).run(until_caught_up=True)
    sink = LocalSink(tmp_path)
    keys = list(sink.object_keys())
    for key in keys:
        if rule == "records":
            assert len(decode_object(key, sink.get(key))) <= 400
        else:
            assert len(sink.get(key)) <= 16_384
    assert len(keys) >= (8 if rule == "records" else 3000 * 150 // 16_384)
    assert identity_multiset(lake_records(sink)) == identity_multiset(records)
