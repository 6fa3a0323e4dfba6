"""One Trino server for the session, and the lakes the conformance test asks both engines about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.trino.server import TrinoServer, TrinoUnavailable


@pytest.fixture(scope="session")
def trino_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrinoServer]:
    """A real Trino coordinator, started once for the session and stopped after it."""
    server = TrinoServer(tmp_path_factory.mktemp("trino"))
    try:
        server.start()
    except TrinoUnavailable as exc:
        missing(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's lake: its simulated cohort, crawled and compacted."""
    from tests.trino.lakes import demo_lake as build

    return build(tmp_path_factory.mktemp("demo") / "lake")


@pytest.fixture(scope="session")
def fitabase_lake(tmp_path_factory: pytest.TempPathFactory, fitabase_dir: Path) -> Path:
    """The Fitabase export replayed into a lake, crawled and compacted."""
    from tests.trino.lakes import replay_lake

    return replay_lake(tmp_path_factory.mktemp("fitabase") / "lake", fitabase_dir)
