"""The services' images: each holds only what its service runs (the core, what the services share, and the service
itself) and installs exactly the dependencies pyproject.toml declares for it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO_ROOT
from tests.dockerfile import BUILD_ARG, instructions

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
#: Each service and the dependencies its image needs.
SERVICES = {
    "producer": PROJECT["dependencies"],
    "consumer": PROJECT["dependencies"],
    "compactor": PROJECT["dependencies"] + PROJECT["optional-dependencies"]["compactor"],
    "ingest": PROJECT["dependencies"] + PROJECT["optional-dependencies"]["ingest"],
}
#: What the consumer's image runs besides the consumer: the topics and ACLs step of the host and of MSK.
EXTRA_MODULES = {"consumer": ["services.common.kafka_admin"], "ingest": ["services.ingest.app"]}


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_copies_only_the_core_the_shared_part_and_its_service(service: str):
    copied = [arg.split() for op, arg in instructions(service) if op == "COPY"]
    sources = {source for *group, _target in copied for source in group}
    assert sources == {"pyproject.toml", "core", "services/__init__.py", "services/common", f"services/{service}"}
    assert all((REPO_ROOT / source).exists() for source in sources)
    assert instructions(service)[-1] == ("ENTRYPOINT", f'["python", "-m", "services.{service}"]')


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_installs_the_dependencies_pyproject_declares(service: str):
    (run,) = [arg for op, arg in instructions(service) if op == "RUN" and "requirements.txt" in arg]
    command = run.split(" > /tmp/requirements.txt")[0].replace("/tmp/pyproject.toml", str(REPO_ROOT / "pyproject.toml"))
    assert command.startswith("python -c ")
    listed = subprocess.run(
        ["sh", "-c", command.replace("python", sys.executable, 1)],
        env={**os.environ, BUILD_ARG: service},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert listed == SERVICES[service]
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in run


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_imports_nothing_its_image_lacks(service: str):
    absent = ["fitpipe", "stacks", *(f"services.{other}" for other in SERVICES if other != service)]
    modules = [f"services.{service}.__main__", *EXTRA_MODULES.get(service, [])]
    code = (
        "import importlib, sys\n"
        f"for name in {absent!r}:\n"
        "    sys.modules[name] = None\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _user_step(service: str) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's choice of the user's id and the lake's folder for `service`, run by the shell alone."""
    (run,) = [arg for op, arg in instructions("producer") if op == "RUN" and "useradd" in arg]
    choice = run.split(" && groupadd")[0] + ' && echo "$id" "$lake"'
    env = {**os.environ, BUILD_ARG: service}
    return subprocess.run(["sh", "-c", choice], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_each_service_runs_as_its_own_user():
    ids = {}
    for service in SERVICES:
        assert ("USER", f"{service}:{service}") in instructions(service)
        done = _user_step(service)
        assert done.returncode == 0, done.stderr
        ids[service], *lake = done.stdout.split()
        lake_dirs = [arg.split("=", 1)[1] for op, arg in instructions(service) if op == "ENV" and "_LAKE_DIR=" in arg]
        assert lake == lake_dirs, "the folder the service's user owns is its lake"
    assert len(set(ids.values())) == len(SERVICES)


def test_an_unknown_service_stops_the_build_with_one_line():
    done = _user_step("reporter")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "SERVICE must be producer, consumer, compactor or ingest (--build-arg SERVICE=...), not 'reporter'"
    )


# The images themselves, built with podman from the Dockerfile above on the stand-in base (tests/containers.py).

#: A setting each service refuses, and what its one line of error says.
BAD_SETTINGS = {
    "producer": ({"PRODUCER_PARTITIONS": "0"}, "PRODUCER_PARTITIONS: Input should be greater than or equal to 1"),
    "consumer": ({"CONSUMER_SINK": "s3"}, "CONSUMER_S3_BUCKET is required"),
    "compactor": ({"COMPACTOR_CATALOG": "glue"}, "COMPACTOR_S3_BUCKET is required"),
    "ingest": ({"INGEST_PORT": "0"}, "INGEST_PORT: Input should be greater than or equal to 1"),
}


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_builds_and_runs_the_service_as_its_own_user(service: str, service_image) -> None:
    from tests.containers import image_user, run

    image = service_image(service)
    assert image_user(image) == f"{service}:{service}"
    uid = _user_step(service).stdout.split()[0]
    done = run(image, "-c", "import os; print(os.getuid(), os.getgid())", options=["--entrypoint", "python"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [uid, uid] and uid != "0"


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_refuses_a_bad_setting_with_one_line_and_exit_2(service: str, service_image) -> None:
    from tests.containers import run

    env, message = BAD_SETTINGS[service]
    done = run(service_image(service), env=env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_kafka_stand_in_scripts_pass_shellcheck() -> None:
    from fitpipe.containers import KAFKA_FILES
    from tests.conftest import require_tool

    scripts = sorted(str(p) for p in [*(KAFKA_FILES / "bin").iterdir(), *(KAFKA_FILES / "docker").iterdir()])
    scripts = [s for s in scripts if not s.endswith((".properties", ".yaml"))]
    assert len(scripts) == 15
    done = subprocess.run(
        [require_tool("shellcheck"), "--shell=bash", "--severity=style", *scripts], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
