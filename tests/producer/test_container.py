"""The producer's image: what the Dockerfile builds from, and that the service runs on the core dependencies alone."""

from __future__ import annotations

import fnmatch
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.dockerfile import instructions
from tests.producer.conftest import producer_env


def _instructions() -> list[tuple[str, str]]:
    return instructions("producer")


def test_image_is_slim_non_root_and_runs_the_service() -> None:
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    run_lines = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in run_lines  # pyproject.toml's (tests/test_images.py)
    assert instructions[-1] == ("ENTRYPOINT", '["python", "-m", "services.producer"]')


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def kept(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                keep = negated
        return keep

    sources = [arg.split()[:-1] for op, arg in _instructions() if op == "COPY"]
    for source in (s for group in sources for s in group):
        assert (REPO_ROOT / source).exists(), source
        assert kept(source), f"{source} is excluded from the build context by .dockerignore"
    assert not kept("tests/conftest.py") and not kept("fitpipe/cli.py") and not kept(".venv")


def test_the_service_runs_without_the_local_tooling() -> None:
    # The image holds only core/ and services/: the service must not import the fitpipe package.
    code = (
        "import sys; sys.modules['fitpipe'] = None\n"
        "import services.producer.__main__, services.producer.run, services.producer.replay\n"
        "import services.producer.kafka_producer, services.producer.settings\n"
        "sys.exit(services.producer.__main__.main())\n"
    )
    env = producer_env(PRODUCER_PARTITIONS="0")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "PRODUCER_PARTITIONS: Input should be greater than or equal to 1" in result.stderr


def test_the_image_produces_the_simulated_day_to_a_broker(service_image, kafka_bootstrap: str, topic_name: str) -> None:
    import datetime as dt

    from services.producer.simulator import simulate_encoded
    from tests.containers import run
    from tests.producer.kafka_helpers import read_topic

    start = dt.date(2026, 1, 5)
    done = run(
        service_image("producer"),
        env={
            "PRODUCER_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "PRODUCER_TOPIC": topic_name,
            "PRODUCER_PARTITIONS": "3",
            "PRODUCER_USERS": "3",
            "PRODUCER_DAYS": "1",
            "PRODUCER_START_DATE": start.isoformat(),
        },
    )
    assert done.returncode == 0, done.stderr[-2000:]
    produced = sorted((m.key(), m.value()) for m in read_topic(kafka_bootstrap, topic_name))
    expected = sorted(simulate_encoded(3, start, 1, seed=42))
    assert len(expected) == 3 * 24 * 60
    assert produced == expected
