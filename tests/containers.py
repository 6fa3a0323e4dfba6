"""The services' images, built with podman from the unmodified `services/Dockerfile` on the stand-in base image, and run
as an operator runs them. The fixtures are in tests/conftest.py (`service_image`); every test that uses them carries
the `containers` marker, so `pytest -m containers` selects them alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT, require_tool
from tests.dockerfile import BUILD_ARG, DOCKERFILE_PATH

#: The tag the tests give each service's image.
TAG = "fitness-pipeline/{service}:test"


def podman() -> str:
    return require_tool("podman")


def build(service: str) -> str:
    """The image of `service`, built (podman reuses the layers of an unchanged Dockerfile and context)."""
    tag = TAG.format(service=service)
    done = subprocess.run(
        [
            podman(),
            "build",
            "--pull=never",
            "--network",
            "host",  # pip reaches PyPI in the build, as on the host
            "-f",
            DOCKERFILE_PATH,
            "--build-arg",
            f"{BUILD_ARG}={service}",
            "-t",
            tag,
            ".",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"podman build of {service} failed:\n{done.stderr[-3000:]}"
    return tag


def run(
    image: str,
    *args: str,
    env: dict[str, str] | None = None,
    volumes: dict[Path, str] | None = None,
    options: list[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm` of `image` to its end, on the host's network (where the tests' broker listens)."""
    cmd = [podman(), "run", "--rm", "--network", "host", *(options or [])]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    for source, target in (volumes or {}).items():
        cmd += ["-v", f"{source}:{target}"]
    return subprocess.run([*cmd, image, *args], capture_output=True, text=True, timeout=timeout, check=False)


def image_user(image: str) -> str:
    done = subprocess.run(
        [podman(), "image", "inspect", "--format", "{{.Config.User}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()
