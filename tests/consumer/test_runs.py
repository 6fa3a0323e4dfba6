"""A run of one partition's valid records lands in one step; the lake is byte for byte the lake of one message at a
time: the same objects, cut at the same offsets, with the same lines, and the same dead letters."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.schema import encode
from services.consumer import writer
from services.consumer.sinks import LocalSink
from tests.consumer.conftest import create_topic, make_records, produce_with_offsets, settings_for


def _lake(sink: LocalSink) -> dict[str, bytes]:
    return {key: sink.get(key) for key in sink.object_keys()}


@pytest.mark.integration
@pytest.mark.parametrize(
    "limits",
    [
        {"max_records_per_file": 450},
        {"max_bytes_per_file": 100_000, "format": "jsonl"},
        {"max_bytes_per_file": 60_000},
    ],
    ids=["records", "bytes-plain", "bytes-gzip"],
)
def test_runs_land_the_lake_of_one_message_at_a_time(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: dict
) -> None:
    good = make_records(4000, seed=21, days=3)
    stream: list[tuple[bytes | None, bytes | None]] = [(str(r["id"]).encode(), encode(r)) for r in good]
    rng = random.Random(5)
    bad = [b"not json", b"{}", b"[1, 2]", None, encode({**good[0], "steps": 10_000}), b'{"id": 1} {"id": 2}']
    for value in bad * 3:
        stream.insert(rng.randrange(len(stream) + 1), (b"bad", value))
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    produce_with_offsets(kafka_bootstrap, topic_name, stream)

    lakes = {}
    summaries = {}
    for mode, min_run in (("runs", writer._MIN_RUN), ("one by one", 10**9)):
        monkeypatch.setattr(writer, "_MIN_RUN", min_run)
        lake = tmp_path / mode.replace(" ", "-")
        settings = settings_for(
            kafka_bootstrap, topic_name, lake_dir=lake, group_id=f"{topic_name}-{lake.name}", **limits
        )
        summaries[mode] = writer.LakeWriter(settings).run(until_caught_up=True)
        lakes[mode] = _lake(LocalSink(lake))

    assert summaries["runs"].records_out == summaries["one by one"].records_out == len(good)
    assert summaries["runs"].dead_letters == summaries["one by one"].dead_letters == len(bad) * 3
    assert len(lakes["runs"]) > 8, "the limits cut the stream into many objects"
    assert sorted(lakes["runs"]) == sorted(lakes["one by one"])
    assert lakes["runs"] == lakes["one by one"]
