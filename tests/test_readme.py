"""The README's commands run as written: every shell block, in order, against a local broker, unless the line just
above the block says what else it needs (AWS credentials, ...). The blocks that build and run an image run with
podman's Docker-compatible command line as `docker`."""

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
#: The marker of a block that builds or runs an image: run by its own test, with podman as `docker`.
IMAGES = "builds and runs an image"
#: What a block may need beyond a set-up clone; a block marked so is not run by the test of the whole README.
NEEDS: tuple[str, ...] = (
    IMAGES,
    "needs AWS credentials",
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
    images = [b for b in blocks if b.marker and b.marker.startswith(IMAGES)]
    assert not any(re.search(r"\b(aws|sudo|cdk)\b", b.text) for b in images), "an image block needs nothing more"
    assert not any(b.marker and "docker" in b.text.lower() and b not in images for b in blocks if "docker" in b.text)


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_the_readme_image_blocks_run_with_podman(stand_in_images: list[str], tmp_path: Path) -> None:
    """The blocks that build and run an image, in order, from the repository's root (the build context), with
    `docker` being podman and the broker of `fitpipe kafka start` in a home of the test's own."""
    from fitpipe.kafka import LocalBroker, running_broker
    from tests.producer.kafka_helpers import end_offsets_total

    blocks = [b for b in shell_blocks() if b.marker and b.marker.startswith(IMAGES)]
    assert len(blocks) == 3 and all("docker build" in b.text for b in blocks)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "docker").symlink_to(require_tool("podman"))
    script = "set -euo pipefail\n" + "\n".join(f"# README.md:{b.line}\n{b.text}" for b in blocks) + "\n"
    kafka_home = tmp_path / "kafka"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCER_", "CONSUMER_", "COMPACTOR_"))}
    env |= {
        "PATH": f"{shims}:{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "FITPIPE_KAFKA_HOME": str(kafka_home),
    }
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1700, check=False
        )
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        state = running_broker(kafka_home)
        assert state is not None, "the producer's block started the broker"
        assert end_offsets_total(state.bootstrap, "fitness-data") == 33 * 24 * 60  # the default cohort, one day
    finally:
        LocalBroker(kafka_home).stop()


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
