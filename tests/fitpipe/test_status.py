"""`fitpipe status` against a real broker and a lake the consumer wrote, in text and in JSON; and the lag it shows
growing while the consumer is stopped and the producer runs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.names import CURATED_TABLE, GLUE_DATABASE, LAKE_CURATED_PREFIX
from fitpipe.status import gather
from services.consumer.writer import LakeWriter
from services.producer.kafka_producer import StopRequest, produce
from tests.conftest import REPO_ROOT
from tests.consumer.conftest import create_topic, make_records, settings_for, wait_until
from tests.consumer.conftest import produce as produce_raw
from tests.producer.kafka_helpers import producer_settings

pytestmark = pytest.mark.integration


def _status_command(bootstrap: str, topic: str, lake: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fitpipe",
            "status",
            "--bootstrap",
            bootstrap,
            "--lake",
            str(lake),
            "--topic",
            topic,
            "--dlq-topic",
            f"{topic}.dlq",
            "--group",
            f"group-{topic}",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def test_status_shows_kafka_the_group_and_the_lake(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    records = make_records(1200, seed=9, days=2)
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    produce(records, producer_settings(kafka_bootstrap, topic_name, progress=False), create_topic=False)
    produce_raw(kafka_bootstrap, topic_name, [b"not a record"], [b"1"])
    LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path)).run(until_caught_up=True)

    done = _status_command(kafka_bootstrap, topic_name, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    kafka, lake = status["kafka"], status["lake"]
    assert kafka["bootstrap"] == kafka_bootstrap and kafka["brokers"]
    partitions = kafka["topics"][topic_name]
    assert sorted(partitions) == ["0", "1"]
    assert sum(p["end"] for p in partitions.values()) == len(records) + 1
    assert kafka["group"]["lag"] == 0
    assert {p: v["lag"] for p, v in kafka["group"]["partitions"].items()} == {"0": 0, "1": 0}
    assert kafka["dead_letters"] == 1
    days = sorted({r["date"] for r in records})
    assert sorted(lake["days"]) == days
    for day in days:
        newest = max(r["time"] for r in records if r["date"] == day)
        assert lake["days"][day]["newest_event"] == f"{day} {newest}"
        files = list((tmp_path / "data" / "fitness_data_kafka_storage" / f"dt={day}").iterdir())
        assert lake["days"][day]["files"] == len(files)
        assert lake["days"][day]["newest_file"] in {f.name for f in files}
    assert lake["newest_event"] == max(f"{r['date']} {r['time']}" for r in records)
    assert lake["curated_newest_day"] is None and lake["curated"] is None

    text = _status_command(kafka_bootstrap, topic_name, tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith("broker") and kafka_bootstrap.split(":")[-1] in line for line in lines)
    assert any(f"{topic_name}: 2 partitions" in line for line in lines)
    assert any(f"group-{topic_name}: lag 0 records" in line for line in lines)
    assert "1 dead letters" in text.stdout
    assert all(any(line.strip().startswith(day) for line in lines) for day in days)
    assert "no curated table yet" in text.stdout


def test_status_shows_the_curated_table_the_compactor_wrote(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """The curated table as its catalog has it: a day folder that no commit references (left by a killed run) is
    not a day of the table."""
    records = make_records(900, seed=11, days=3)
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    produce(records, producer_settings(kafka_bootstrap, topic_name, progress=False), create_topic=False)
    LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path)).run(until_caught_up=True)
    compacted = subprocess.run(
        [sys.executable, "-m", "fitpipe", "compact", "--lake", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    assert compacted.returncode == 0, compacted.stderr
    days = sorted({r["date"] for r in records})
    stray = tmp_path / LAKE_CURATED_PREFIX / "data" / "dt=2099-01-01"
    stray.mkdir(parents=True)
    (stray / "00000-0-left-by-a-killed-run.parquet").write_bytes(b"PAR1")

    done = _status_command(kafka_bootstrap, topic_name, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    lake = json.loads(done.stdout)["lake"]
    curated = lake["curated"]
    assert lake["curated_newest_day"] == curated["newest_day"] == days[-1]
    assert curated["days"] == len(days) and curated["files"] == len(days)
    assert curated["rows"] == len({(r["id"], r["date"], r["time"]) for r in records})
    assert curated["table"] == f"{GLUE_DATABASE}.{CURATED_TABLE}"
    committed = dt.datetime.fromisoformat(curated["last_commit"])
    assert committed <= dt.datetime.now(dt.UTC) and committed.date() >= dt.date.fromisoformat(days[-1])

    text = _status_command(kafka_bootstrap, topic_name, tmp_path)
    assert text.returncode == 0, text.stderr
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("curated")]
    assert f"{len(days)} days" in line and f"newest day {days[-1]}" in line and "2099" not in line
    assert f"last commit {curated['last_commit']}" in line


def test_status_without_a_broker_is_one_line(tmp_path: Path) -> None:
    done = _status_command("127.0.0.1:1", "fitness-data", tmp_path, "--json")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "no Kafka broker answers at 127.0.0.1:1" in done.stderr


def test_lag_grows_while_the_consumer_is_stopped_and_the_producer_runs(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """A stopped consumer exposes no metric, so the lag is read where it is still known: the broker's committed
    offsets against its end offsets, as `fitpipe status` reports them."""
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    produce(
        make_records(500, seed=2), producer_settings(kafka_bootstrap, topic_name, progress=False), create_topic=False
    )
    LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path)).run(until_caught_up=True)

    def lag() -> int:
        return gather(kafka_bootstrap, tmp_path, topic_name, f"{topic_name}.dlq", f"group-{topic_name}")["kafka"][
            "group"
        ]["lag"]

    assert lag() == 0
    stop = StopRequest()
    records = make_records(20_000, seed=4, days=1)  # one day, so the pacing runs a minute a second
    producer = threading.Thread(
        target=produce,
        args=(records, producer_settings(kafka_bootstrap, topic_name, progress=False)),
        kwargs={"create_topic": False, "speed": 60.0, "stop": stop},
        daemon=True,
    )
    producer.start()
    try:
        assert wait_until(lambda: lag() > 0, 60)
        first = lag()
        assert wait_until(lambda: lag() > first, 60)
        assert producer.is_alive()
    finally:
        stop.requested = True
        producer.join(60)
