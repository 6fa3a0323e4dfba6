"""A consumer restarted where everything is landed and committed resumes at the committed offsets: with nothing new
to read, it is caught up at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.consumer.writer import LakeWriter
from tests.consumer.conftest import create_topic, make_records, produce_records, settings_for

pytestmark = pytest.mark.integration


def test_a_restart_with_nothing_new_is_caught_up_at_once(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=2)
    records = make_records(300, seed=4)
    produce_records(kafka_bootstrap, topic_name, records)
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, max_records_per_file=100)
    assert LakeWriter(settings).run(until_caught_up=True).records_out == len(records)

    again = LakeWriter(settings)
    running = threading.Thread(target=again.run, kwargs={"until_caught_up": True}, daemon=True)
    running.start()
    running.join(60)
    caught_up = not running.is_alive()
    if not caught_up:
        again.stop_event.set()
        running.join(30)
    assert caught_up, "a consumer with nothing beyond its committed offsets never found itself caught up"
    assert again.summary.records_in == 0
    assert again.summary.files_written == 0
