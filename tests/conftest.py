"""Fixtures shared by the whole suite: the real local Kafka broker and the Fitabase data folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka broker: $KAFKA_BOOTSTRAP_SERVERS, or one started for this session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from fitpipe.kafka import LocalBroker

    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses, so tests sharing the broker never see each other's records."""
    return f"test-{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def fitabase_dir() -> Path:
    """The real Fitabase export: $FITABASE_DIR, or ../shared/data/fitabase beside the repository."""
    path = Path(os.environ.get("FITABASE_DIR") or REPO_ROOT.parent / "shared" / "data" / "fitabase")
    if not (path / "minuteStepsWide_merged.csv").exists():
        missing(f"the Fitabase export is not at {path}; set FITABASE_DIR to its folder")
    return path


@pytest.fixture(scope="session")
def stand_in_images() -> list[str]:
    """The stand-ins for `python:3.11-slim` and `apache/kafka` in podman's storage, built when missing or out of date
    (fitpipe.containers); the names of those built by this session."""
    require_tool("podman")
    require_tool("mmdebstrap")
    from fitpipe.containers import build_stand_ins

    return build_stand_ins()


@pytest.fixture(scope="session")
def service_image(stand_in_images: list[str]) -> Callable[[str], str]:
    """A function giving the tag of a service's image, built once per session from `services/Dockerfile`."""
    from tests.containers import build

    built: dict[str, str] = {}

    def image(service: str) -> str:
        if service not in built:
            built[service] = build(service)
        return built[service]

    return image


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that builds or runs an image is a `containers` test (`pytest -m containers` runs them alone)."""
    for item in items:
        if "stand_in_images" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.containers)


def missing(message: str) -> NoReturn:
    """Something a test needs is absent: a skip on a workstation, a failure in CI (`CI` set), where a skip would
    let the run go green without the tests that need it."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of an external program a test needs. Missing: a skip on a workstation, a failure in CI (which
    installs every tool the suite uses, so a missing one there is a broken set-up, not a reason to skip)."""
    import shutil

    path = shutil.which(name)
    if path is None:
        missing(f"`{name}` is not installed (make test installs it)")
    return path


def broker_processes(home: Path) -> list[int]:
    """The pids of the Kafka brokers running with config from `home` (none, once a stop has worked)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"kafka.Kafka" in cmdline and str(home).encode() in cmdline:
                pids.append(int(proc.name))
    return pids
