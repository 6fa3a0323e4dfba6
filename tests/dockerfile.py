"""The services' Dockerfile as the build of one service runs it: the stages it goes through, from the base image to
the command, with the build argument SERVICE in place. The compose file, the CDK image assets and the tests all
build it with `SERVICE` set to the service's name."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "services" / "Dockerfile"
#: The Dockerfile's path from the repository root (the build context), as the compose file and CDK name it.
DOCKERFILE_PATH = str(DOCKERFILE.relative_to(REPO_ROOT))
#: The build argument naming the service.
BUILD_ARG = "SERVICE"


def _parsed() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instructions(service: str) -> list[tuple[str, str]]:
    """What a build of `service` runs, in order; `FROM` names the base image only (not the stages in between)."""
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] | None = None
    last = ""
    for op, arg in _parsed():
        if op != "RUN":  # Docker substitutes build arguments in these; a RUN's shell reads them from its environment
            arg = arg.replace(f"${{{BUILD_ARG}}}", service)
        if op == "FROM":
            base, _, name = arg.partition(" AS ")
            last = name.strip() or f"#{len(stages)}"
            current = []
            stages[last] = (base.strip(), current)
        elif current is not None:  # before the first FROM: the global build arguments
            current.append((op, arg))
    chain: list[tuple[str, str]] = []
    stage = last
    while stage in stages:
        base, body = stages[stage]
        chain[:0] = body
        stage = base
    return [("FROM", stage), *chain]
