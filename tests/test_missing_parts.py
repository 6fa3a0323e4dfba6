"""In CI a missing part fails the run and names what is missing; on a workstation it is a skip with its reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, missing

#: The quickest test that needs the Fitabase export (it fails on the missing folder before anything else runs).
NEEDS_FITABASE = "tests/fitpipe/test_realism.py::test_the_checks_land_on_the_real_figures_when_run_on_the_real_export"


def _pytest_without_fitabase(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["FITABASE_DIR"] = "/nonexistent"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs", NEEDS_FITABASE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_in_ci_a_missing_fitabase_export_fails_and_names_the_folder() -> None:
    result = _pytest_without_fitabase(ci=True)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 error" in result.stdout  # the fixture fails, so the test errors at set-up
    assert "the Fitabase export is not at /nonexistent" in result.stdout


def test_on_a_workstation_a_missing_fitabase_export_is_a_skip_with_its_reason() -> None:
    result = _pytest_without_fitabase(ci=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout
    assert "the Fitabase export is not at /nonexistent" in result.stdout


def test_missing_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto_server and the compose plugin go through the same `missing`."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="moto_server is not installed"):
        missing("moto_server is not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="moto_server is not installed"):
        missing("moto_server is not installed")
