"""One JSON snapshot per stack. Asset hashes (64 hex digits) are masked: they change with any file of the source.
The host instance's logical id is not masked: it must not change with the source (the host is updated in place)."""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def masked(template: dict) -> dict:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["FitnessPipelineData", "FitnessPipelineStreaming"])
def test_stack_matches_its_snapshot(synthesis, snapshot_json, stack: str):
    assert masked(synthesis.templates[stack]) == snapshot_json


def test_msk_streaming_stack_matches_its_snapshot(msk_synthesis, snapshot_json):
    """One snapshot per `kafka` choice on MSK (the data stack is the same for every choice)."""
    assert masked(msk_synthesis.templates["FitnessPipelineStreaming"]) == snapshot_json


def test_the_data_stack_is_the_same_on_msk(synthesis, msk_synthesis):
    assert masked(msk_synthesis.templates["FitnessPipelineData"]) == masked(synthesis.templates["FitnessPipelineData"])


def test_masking_leaves_no_asset_hash(synthesis):
    text = json.dumps(masked(synthesis.templates["FitnessPipelineStreaming"]))
    assert "<asset-hash>" in text
    assert not ASSET_HASH.search(text)
