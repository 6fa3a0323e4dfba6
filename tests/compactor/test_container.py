"""The compactor's image: slim, non-root, built from the shared core and its own package only."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.dockerfile import instructions


def _instructions() -> list[tuple[str, str]]:
    return instructions("compactor")


def test_image_is_slim_non_root_and_ships_only_the_compactor() -> None:
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    copied = [arg.split()[:-1] for op, arg in instructions if op == "COPY"]
    sources = {s for group in copied for s in group}
    assert sources == {
        "pyproject.toml",
        "core",
        "services/__init__.py",
        "services/common",
        "services/compactor",
    }
    assert all((REPO_ROOT / s).exists() for s in sources)
    assert instructions[-1] == ("ENTRYPOINT", '["python", "-m", "services.compactor"]')


def test_the_service_runs_on_what_the_image_holds() -> None:
    # The image has neither the local tooling nor the other services: the compactor must not import them.
    code = (
        "import sys\n"
        "for name in ('fitpipe', 'services.consumer', 'services.producer', 'duckdb', 'confluent_kafka'):\n"
        "    sys.modules[name] = None\n"
        "import services.compactor.__main__, services.compactor.compactor, services.compactor.maintenance\n"
        "import services.compactor.raw, services.compactor.table\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path) -> None:
    env = {"COMPACTOR_CATALOG": "glue", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "services.compactor"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "COMPACTOR_S3_BUCKET is required" in done.stderr and "Traceback" not in done.stderr


def test_the_image_compacts_a_landed_lake(service_image, tmp_path) -> None:
    import datetime as dt
    import os
    from collections import Counter

    from core.schema import FIELD_NAMES
    from fitpipe.sample_lake import land
    from services.producer.simulator import simulate
    from tests.compactor.conftest import load_table
    from tests.containers import run

    records = list(simulate(3, dt.date(2026, 1, 5), 2, seed=3))
    lake = tmp_path / "lake"
    land(lake, records, records_per_file=500)
    for path in [lake, *lake.rglob("*")]:
        os.chown(path, 10003, 10003)  # the compactor's user in its image (services/Dockerfile) owns the lake
    # The catalog records absolute paths: the lake is mounted where it is on this machine, so the test reads the
    # table the container wrote.
    done = run(service_image("compactor"), env={"COMPACTOR_LAKE_DIR": str(lake)}, volumes={lake: str(lake)})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = load_table(lake).scan().to_arrow().to_pylist()
    assert Counter(tuple(r[n] for n in FIELD_NAMES) for r in rows) == Counter(
        tuple(r[n] for n in FIELD_NAMES) for r in records
    )
