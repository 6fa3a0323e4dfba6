"""Idle flush: when the stream pauses, the records already read are in the lake within the flush interval + 5 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import (
    Background,
    create_topic,
    identity_multiset,
    lake_records,
    make_records,
    produce_records,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

FLUSH_INTERVAL_S = 2.0


def test_records_are_readable_within_the_flush_interval_after_the_stream_stops(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=3)
    # Rotation by count or bytes never triggers here: only the time rule can write these records.
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, flush_interval_s=FLUSH_INTERVAL_S)
    records = make_records(25, seed=5)
    sink = LocalSink(tmp_path)
    with Background(LakeWriter(settings)) as running:
        produce_records(kafka_bootstrap, topic_name, records)
        stopped_at = time.monotonic()
        landed = wait_until(lambda: len(lake_records(sink)) >= len(records), timeout=FLUSH_INTERVAL_S + 5)
        waited = time.monotonic() - stopped_at
        assert landed, f"records not in the lake {waited:.1f} s after the stream stopped"
        assert identity_multiset(lake_records(sink)) == identity_multiset(records)
        # The summary counts a batch once it is committed, which is just after its objects are visible.
        assert wait_until(lambda: running.writer.summary.records_out == len(records), timeout=5)
        # A second burst after a pause is flushed too (the timer restarts with each new batch).
        more = make_records(10, seed=6, users=3)
        produce_records(kafka_bootstrap, topic_name, more)
        assert wait_until(lambda: len(lake_records(sink)) >= len(records) + len(more), timeout=FLUSH_INTERVAL_S + 5)
    assert identity_multiset(lake_records(sink)) == identity_multiset(records + more)
