"""One JSON snapshot per stack. Asset hashes (64 hex digits) are masked: they change with any file of the source,
and so does the host instance's logical id, which carries the digest of its source, script and settings."""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
HOST_INSTANCE_ID = re.compile(r"HostInstance[0-9a-f]{64}")


def masked(template: dict) -> dict:
    text = HOST_INSTANCE_ID.sub("HostInstance<source-digest>", json.dumps(template, sort_keys=True))
    return json.loads(ASSET_HASH.sub("<asset-hash>", text))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["FitnessPipelineData", "FitnessPipelineStreaming"])
def test_stack_matches_its_snapshot(synthesis, snapshot_json, stack: str):
    assert masked(synthesis.templates[stack]) == snapshot_json


def test_masking_leaves_no_asset_hash(synthesis):
    text = json.dumps(masked(synthesis.templates["FitnessPipelineStreaming"]))
    assert "<asset-hash>" in text
    assert "HostInstance<source-digest>" in text
    assert not ASSET_HASH.search(text)
