"""Imports go one way: `fitpipe` uses `services`, `services` use `core`, and the CDK app (`app.py`, `stacks/`) uses
`core` only. The import-linter contracts of pyproject.toml say so; these tests run them, check app.py (a module,
which import-linter takes as no root) against the same forbidden list, and prove that an import pointing back fails."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` run in `root`, on the packages found there."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_packages_keep_every_contract():
    assert CONTRACTS["layers"]["layers"] == ["fitpipe", "services", "core"]
    assert set(CONTRACTS["cdk-app"]["forbidden_modules"]) == {"services", "fitpipe"}
    done = lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_cdk_app_imports_only_core_and_the_stacks():
    imported = _top_level_imports(REPO_ROOT / "app.py")
    assert {"core", "stacks"} <= imported
    assert not imported & set(CONTRACTS["cdk-app"]["forbidden_modules"])


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        ("services/consumer/naming.py", "from fitpipe.errors import UserError", "services.consumer.naming -> fitpipe"),
        ("stacks/constructs/lake.py", "from services.common import stop", "stacks.constructs.lake -> services"),
        ("core/names.py", "from services.common import stop", "core.names -> services"),
    ],
    ids=["services-to-fitpipe", "stacks-to-services", "core-to-services"],
)
def test_an_import_pointing_back_breaks_a_contract(tmp_path: Path, module: str, statement: str, broken: str):
    for package in CONFIG["root_packages"]:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    source = tmp_path / module
    source.write_text(f"{source.read_text(encoding='utf-8')}\n{statement}  # noqa\n", encoding="utf-8")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert broken in done.stdout, done.stdout
