"""The package as it ships: `sql/` stays at the repository's root and travels inside the core as `core.sql`, so a
wheel installed anywhere reads the very same named queries as the editable install of the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: What the wheel is built from: the project's metadata and its packages, `sql/` included.
SOURCES = ("pyproject.toml", "README.md", "core", "sql", "services", "stacks", "fitpipe")
#: Prints the named queries as the installed core reads them.
READ_QUERIES = (
    "import json\n"
    "from core.queries import SQL_DIR, named_queries\n"
    "print(json.dumps({'dir': str(SQL_DIR), 'queries': {q.name: q.sql for q in named_queries()}}))\n"
)


def _repository_queries() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "sql").glob("*.sql"))}


def _read_queries(cwd: Path, *python_args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, *python_args, "-c", READ_QUERIES],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_editable_install_reads_the_repositorys_sql_folder_from_anywhere(tmp_path: Path):
    read = _read_queries(tmp_path)
    assert Path(read["dir"]) == REPO_ROOT / "sql"
    assert read["queries"] == _repository_queries()


@pytest.mark.slow
def test_a_wheel_ships_the_queries_and_reads_them_outside_the_repository(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", "dist", "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (source / "dist").glob("fitness_pipeline-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"core/sql/{stem}.sql" for stem in _repository_queries()} <= names
        assert "core/queries.py" in names
        assert not any(name.startswith("sql/") for name in names), "the queries ship inside the core only"
        site = tmp_path / "site"
        archive.extractall(site)

    # The unpacked wheel alone, from a folder outside the repository: no site-packages (so no editable install), no
    # repository on the path.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    read = _read_queries(elsewhere, "-S", env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert Path(read["dir"]) == site / "core" / "sql"
    assert read["queries"] == _repository_queries()
