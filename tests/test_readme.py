"""The README's commands run as written: every shell block, in order, against a local broker, unless the line just
above the block says what else it needs (AWS credentials, a Docker engine, ...)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool

README = REPO_ROOT / "README.md"
#: What a block may need beyond a set-up clone; a block marked so is not run here.
NEEDS: tuple[str, ...] = (
    "needs AWS credentials",
    "needs a Docker engine",
    "needs the Fitabase export",
    "runs until Ctrl-C",
    "sets up the machine",
)
#: The README's small cohort for the run: the documented settings that `fitpipe demo` and `fitpipe produce` take.
SMALL = {"PRODUCER_USERS": "2", "PRODUCER_DAYS": "1"}


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    marker: str | None  # the `<!-- ... -->` just above it, if any
    text: str


def shell_blocks(readme: Path = README) -> list[Block]:
    """Every ```bash block of the README, with the comment line just above it."""
    blocks: list[Block] = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```bash":
            end = lines.index("```", index + 1)
            above = lines[index - 1].strip() if index else ""
            marker = re.fullmatch(r"<!--\s*(.*?)\s*-->", above)
            blocks.append(Block(index + 1, marker[1] if marker else None, "\n".join(lines[index + 1 : end])))
            index = end
        index += 1
    return blocks


def test_every_block_runs_here_or_says_what_it_needs() -> None:
    blocks = shell_blocks()
    assert len(blocks) > 10
    for block in blocks:
        if block.marker is not None:
            assert block.marker.startswith(NEEDS), f"README.md:{block.line}: unknown marker {block.marker!r}"
    aws = [b for b in blocks if b.marker and "AWS" in b.marker]
    assert any("cdk deploy" in b.text for b in aws) and any("cdk destroy" in b.text for b in aws)
    assert not any(b.marker is None and re.search(r"\b(aws|docker|sudo|cdk deploy)\b", b.text) for b in blocks)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_readme_commands_run_in_order(tmp_path: Path) -> None:
    """A clone's root (the tracked files, with the set-up's `.venv` and `node_modules`) where the README's unmarked
    blocks run as one shell script, as a reader would type them."""
    require_tool("npx")
    clone = tmp_path / "clone"
    clone.mkdir()
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    for name in sorted({line.split("/", 1)[0] for line in tracked.splitlines()} | {".venv", "node_modules"}):
        (clone / name).symlink_to(REPO_ROOT / name)
    runnable = [b for b in shell_blocks() if b.marker is None]
    script = "set -euo pipefail\n" + "\n".join(f"# README.md:{b.line}\n{b.text}" for b in runnable) + "\n"
    (clone / "readme.sh").write_text(script)
    kafka_home = tmp_path / "kafka"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCER_", "CONSUMER_", "VIRTUAL_ENV"))}
    env |= SMALL | {"FITPIPE_KAFKA_HOME": str(kafka_home), "HOME": os.environ.get("HOME", str(tmp_path))}
    with (tmp_path / "stdout").open("w+") as stdout, (tmp_path / "stderr").open("w+") as stderr:
        shell = subprocess.Popen(
            ["bash", "readme.sh"], cwd=clone, stdout=stdout, stderr=stderr, env=env, start_new_session=True
        )
        try:
            code = shell.wait(timeout=840)
        except subprocess.TimeoutExpired:
            os.killpg(shell.pid, signal.SIGKILL)  # the command that hangs too, not only the shell
            code = shell.wait()
        finally:
            from fitpipe.kafka import LocalBroker

            LocalBroker(kafka_home).stop()  # when a command failed before the README's own stop
        stdout.seek(0), stderr.seek(0)
        done = subprocess.CompletedProcess(shell.args, code, stdout.read(), stderr.read())
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    out = clone / "out"
    assert (out / "report.html").exists() and (out / "parquet" / "report.html").exists()
    assert (out / "intensity.csv").read_text().startswith("id,date,intensity,total_minutes")
    assert "rdkafka" not in done.stdout + done.stderr
    templates = {p.name for p in (clone / "cdk.out").glob("*.template.json")}
    assert {"FitnessPipelineData.template.json", "FitnessPipelineStreaming.template.json"} <= templates
    assert "broker stopped" in done.stderr.splitlines()[-1], "the README ends with the broker stopped"
