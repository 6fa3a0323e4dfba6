"""The golden lake: fixed records written in all three file formats, crawled once for the module's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.schema import Record
from fitpipe.catalog import default_catalog
from fitpipe.query import QueryResult, run_named_queries
from tests.sql.lake import crawled_golden_lake, golden_records


@pytest.fixture(scope="module")
def golden() -> list[Record]:
    return golden_records()


@pytest.fixture(scope="module")
def golden_catalog(golden: list[Record], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_catalog(crawled_golden_lake(tmp_path_factory.mktemp("golden"), golden))


@pytest.fixture(scope="module")
def results(golden_catalog: Path) -> dict[str, QueryResult]:
    """Every sql/ file's result on the golden lake, the files read unmodified from disk."""
    return run_named_queries(golden_catalog)
