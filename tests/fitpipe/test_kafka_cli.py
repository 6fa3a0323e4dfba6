"""`fitpipe kafka`: a real broker that kcat can see, a clean stop, and one-line errors for missing prerequisites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import broker_processes, require_tool

FITPIPE = [sys.executable, "-m", "fitpipe"]


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*FITPIPE, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.mark.integration
def test_start_lists_in_kcat_and_stop_leaves_no_process(tmp_path: Path) -> None:
    kcat = require_tool("kcat")
    home = tmp_path / "broker"
    started = _run(["kafka", "start", "--home", str(home)])
    try:
        assert started.returncode == 0, started.stderr
        bootstrap = started.stdout.strip()
        assert bootstrap.startswith("127.0.0.1:")
        listing = subprocess.run([kcat, "-b", bootstrap, "-L", "-m", "10"], capture_output=True, text=True, timeout=30)
        assert listing.returncode == 0, listing.stderr
        assert "1 brokers:" in listing.stdout
        assert f"broker 1 at {bootstrap}" in listing.stdout
        status = _run(["kafka", "status", "--home", str(home)])
        assert status.returncode == 0 and bootstrap in status.stdout
        assert broker_processes(home)
    finally:
        stopped = _run(["kafka", "stop", "--home", str(home)])
    assert stopped.returncode == 0, stopped.stderr
    assert broker_processes(home) == []
    assert _run(["kafka", "status", "--home", str(home)]).returncode == 1


def _path_with_only(tmp_path: Path, *programs: str) -> str:
    """A PATH holding just the given programs (linked from the real PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in programs:
        real = shutil.which(program)
        assert real, f"{program} is needed to run this test"
        (bin_dir / program).symlink_to(real)
    return str(bin_dir)


@pytest.mark.parametrize(("present", "missing", "hint"), [((), "java", "Java"), (("java",), "mvn", "Maven")])
def test_missing_prerequisite_is_one_line_and_non_zero(
    tmp_path: Path, present: tuple[str, ...], missing: str, hint: str
) -> None:
    env = dict(os.environ)
    env["PATH"] = _path_with_only(tmp_path, *present)
    env["FITPIPE_CACHE_DIR"] = str(tmp_path / "empty-cache")  # nothing cached: the jars would have to be fetched
    result = _run(["kafka", "start", "--home", str(tmp_path / "broker")], env=env, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"`{missing}`" in lines[0] and hint in lines[0] and "install" in lines[0]
    assert "Traceback" not in result.stderr
    assert broker_processes(tmp_path / "broker") == []


@pytest.mark.integration
@pytest.mark.parametrize("cluster_id", ["-aBcDeFgHiJkLmNoPqRsTuV", "_aBcDeFgHiJkLmNoPqRsTuV"])
def test_storage_formats_with_any_random_cluster_id(tmp_path: Path, cluster_id: str) -> None:
    """Random ids are URL-safe base64, so one in 32 starts with "-" or "_"; each must format like any other."""
    from fitpipe.kafka.broker import LocalBroker, fetch_jars, require_java

    broker = LocalBroker(tmp_path / "broker")
    broker.home.mkdir(parents=True)
    config = broker._write_config(port=19092, controller_port=19093)
    broker._format_storage(require_java(), fetch_jars(), config, cluster_id=cluster_id)
    meta = (broker.data_dir / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta


@pytest.mark.integration
def test_a_cluster_of_three_starts_loses_a_node_takes_it_back_and_stops(tmp_path: Path) -> None:
    kcat = require_tool("kcat")
    home = ["--home", str(tmp_path / "cluster")]
    started = _run(["kafka", "start", "--brokers", "3", *home])
    try:
        assert started.returncode == 0, started.stderr
        bootstrap = started.stdout.strip()
        assert len(bootstrap.split(",")) == 3
        listing = subprocess.run([kcat, "-b", bootstrap, "-L", "-m", "10"], capture_output=True, text=True, timeout=30)
        assert "3 brokers:" in listing.stdout, listing.stdout + listing.stderr
        assert len(broker_processes(tmp_path / "cluster")) == 3

        killed = _run(["kafka", "stop", "--node", "2", "--kill", *home])
        assert killed.returncode == 0 and "node 2 killed" in killed.stderr, killed.stderr
        status = _run(["kafka", "status", *home])
        assert status.returncode == 0
        assert "node 2 stopped" in status.stdout and "node 1 running" in status.stdout, status.stdout
        assert len(broker_processes(tmp_path / "cluster")) == 2

        restarted = _run(["kafka", "start", "--node", "2", *home])
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip() == bootstrap.split(",")[1]  # node 2, back on its own port
        assert "node 2 running" in _run(["kafka", "status", *home]).stdout
    finally:
        stopped = _run(["kafka", "stop", *home])
    assert stopped.returncode == 0 and "cluster stopped" in stopped.stderr, stopped.stderr
    assert broker_processes(tmp_path / "cluster") == []
    assert _run(["kafka", "status", *home]).returncode == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "--brokers", "3", "--secure"], "--secure runs one broker"),
        (["stop", "--kill"], "--node N"),
        (["start", "--node", "2"], "no cluster in"),
        (["stop", "--node", "2"], "no cluster in"),
    ],
)
def test_cluster_mistakes_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = _run(["kafka", *args, "--home", str(tmp_path / "cluster")], timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert broker_processes(tmp_path / "cluster") == []
