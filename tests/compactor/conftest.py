"""Fixtures for the compactor's tests: small lakes laid out like the host's, compacted with the local catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.compactor.settings import CompactorSettings
from services.compactor.table import IDENTIFIER, open_catalog
from tests.consumer.conftest import aws_env, moto_endpoint  # noqa: F401  (the moto server, for the Glue path)


def local_settings(lake: Path, **overrides: object) -> CompactorSettings:
    return CompactorSettings(catalog="sql", lake_dir=lake, **overrides)


def load_table(lake: Path):
    return open_catalog(local_settings(lake)).load_table(IDENTIFIER)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"
