"""Running the producer as its own process, the way the container and the command line do."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

#: The container's entry point.
SERVICE_COMMAND = [sys.executable, "-m", "services.producer"]


def producer_env(**settings: str) -> dict[str, str]:
    """This process's environment without the PRODUCER_ settings it may carry, plus `settings`: a run sees only
    what the test sets."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PRODUCER_")}, **settings}


def run_service(**settings: str) -> subprocess.CompletedProcess[str]:
    """Run the container's entry point to the end with `settings` (PRODUCER_ variables) as its environment."""
    return subprocess.run(
        SERVICE_COMMAND,
        cwd=REPO_ROOT,
        env=producer_env(**settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
