"""The Fargate form run from its template: each container of the synthesized `msk-serverless` stack's ECS task
definitions whose image is built from `services/Dockerfile` runs, with podman, the image of the service its asset
names, with the entry point, command, environment and port mappings the template gives it. Only the sign-in and
the addresses change: the bootstrap address is a local broker's (plain text, no IAM sign-in), the lake bucket a moto
server's, and AWS's endpoints the moto server (`AWS_ENDPOINT_URL`).

The producer produces and serves its metrics, the topics step creates the topic, the consumer lands records in the
bucket and serves its metrics, and the compactor writes the curated table. A container's health check, where the
template gives one, runs as ECS runs it (the template gives none today: ECS watches the process alone). A template
with a task's command changed makes the same run fail."""

from __future__ import annotations

import copy
import json
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.names import CURATED_TABLE, GLUE_DATABASE, LAKE_CURATED_PREFIX, LAKE_DATA_PREFIX
from tests.containers import podman
from tests.dockerfile import BUILD_ARG

STREAMING = "FitnessPipelineStreaming"
REGION = "us-east-1"
#: The sign-in of MSK's IAM listener, which the local broker does not have.
SIGN_IN = ("_SASL_MECHANISM", "_AWS_REGION")


@dataclass
class TaskContainer:
    task: str  # the task definition's logical id
    name: str
    service: str  # the build argument of its image asset
    entrypoint: list[str] | None
    command: list[str] | None
    environment: dict[str, Any]
    ports: list[int]
    health_check: dict[str, Any] | None
    essential: bool
    depends_on: list[dict[str, str]] = field(default_factory=list)


def _image_services(synthesis, stack: str) -> dict[str, str]:
    """The image assets of the stack's assembly: each one's image tag (its hash) and the service it builds."""
    assets = json.loads((synthesis.outdir / f"{stack}.assets.json").read_text())
    services = {}
    for asset_hash, asset in assets.get("dockerImages", {}).items():
        source = asset["source"]
        assert source.get("dockerFile") == "services/Dockerfile", source
        services[asset_hash] = source["dockerBuildArgs"][BUILD_ARG]
    return services


def task_containers(synthesis, template: dict[str, Any]) -> list[TaskContainer]:
    """The containers of `template`'s task definitions whose image is one of the services'."""
    services = _image_services(synthesis, STREAMING)
    found = []
    for task, resource in template["Resources"].items():
        if resource["Type"] != "AWS::ECS::TaskDefinition":
            continue
        for container in resource["Properties"]["ContainerDefinitions"]:
            image = json.dumps(container["Image"])
            service = next((s for h, s in services.items() if h in image), None)
            if service is None:
                continue  # a public image (the CloudWatch agent's)
            found.append(
                TaskContainer(
                    task=task,
                    name=container["Name"],
                    service=service,
                    entrypoint=container.get("EntryPoint"),
                    command=container.get("Command"),
                    environment={e["Name"]: e["Value"] for e in container.get("Environment", [])},
                    ports=[p["ContainerPort"] for p in container.get("PortMappings", [])],
                    health_check=container.get("HealthCheck"),
                    essential=container.get("Essential", True),
                    depends_on=container.get("DependsOn", []),
                )
            )
    return found


def local_environment(container: TaskContainer, bootstrap: str, bucket: str, moto: str) -> dict[str, str]:
    """The template's environment with the broker's address and sign-in, the bucket and AWS's endpoints made local;
    any other value CloudFormation would resolve fails the test."""
    env = {}
    for name, value in container.environment.items():
        if name.endswith(SIGN_IN):
            continue
        if name.endswith("_SECURITY_PROTOCOL"):
            value = "PLAINTEXT"
        elif name.endswith("_BOOTSTRAP_SERVERS"):
            value = bootstrap
        elif name.endswith("_S3_BUCKET"):
            value = bucket
        elif value == {"Ref": "AWS::Region"}:
            value = REGION
        assert isinstance(value, str), f"{container.name}: {name} is {value!r}, which has no local stand-in"
        env[name] = value
    return env | {"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([podman(), *args], capture_output=True, text=True, timeout=timeout, check=False)


def _run_args(container: TaskContainer, env: dict[str, str], image: str, name: str) -> list[str]:
    # awsvpc: the task's containers share one network namespace; here it is the host's, with the broker and moto.
    args = ["--name", name, "--network", "host"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    if container.entrypoint:
        args += ["--entrypoint", json.dumps(container.entrypoint)]
    return [*args, image, *(container.command or [])]


def _metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _wait(condition, timeout: float, step: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def run_tasks(synthesis, template, service_image, bootstrap: str, moto: str) -> list[str]:
    """Each task's containers run as the template says; what went wrong, one line each (empty: all did their job)."""
    import boto3

    containers = task_containers(synthesis, template)
    by_name = {c.name: c for c in containers}
    assert set(by_name) == {"producer", "topics", "consumer", "compactor"}, sorted(by_name)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3", endpoint_url=moto, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    s3.create_bucket(Bucket=bucket)
    problems: list[str] = []
    started: list[str] = []
    run_id = uuid.uuid4().hex[:8]

    def env(name: str) -> dict[str, str]:
        return local_environment(by_name[name], bootstrap, bucket, moto)

    def image(name: str) -> str:
        return service_image(by_name[name].service)

    try:
        # The consumer's task: the topics step first (the consumer depends on its success).
        assert {"Condition": "SUCCESS", "ContainerName": "topics"} in by_name["consumer"].depends_on
        topics = _podman(
            "run", "--rm", *_run_args(by_name["topics"], env("topics"), image("topics"), f"topics-{run_id}")
        )
        if topics.returncode != 0:
            problems.append(f"topics exited {topics.returncode}: {topics.stderr.strip()[-500:]}")
            return problems
        for name in ("producer", "consumer"):
            container = f"{name}-{run_id}"
            done = _podman("run", "-d", *_run_args(by_name[name], env(name), image(name), container))
            if done.returncode != 0:
                problems.append(f"{name} did not start: {done.stderr.strip()}")
                return problems
            started.append(container)
        for name, container in zip(("producer", "consumer"), started, strict=True):
            check = by_name[name].health_check
            if check:  # as ECS runs it: CMD (exec) or CMD-SHELL, until it passes or its retries are spent
                kind, *test = check["Command"]
                cmd = test if kind == "CMD" else ["/bin/sh", "-c", " ".join(test)]
                tries = check.get("Retries", 3) + 1
                if not any(_podman("exec", container, *cmd).returncode == 0 or time.sleep(10) for _ in range(tries)):
                    problems.append(f"{name} fails its health check {check['Command']}")
            port = int(env(name)[f"{name.upper()}_METRICS_PORT"])
            if not _wait(lambda port=port: (_metrics(port) or "").count("\n") > 10, 120):
                problems.append(f"{name} serves no metrics on port {port}")
        # Live production at one event minute a minute; the consumer flushes every CONSUMER_FLUSH_INTERVAL_S.
        flush = float(env("consumer")["CONSUMER_FLUSH_INTERVAL_S"])
        landed = lambda: s3.list_objects_v2(Bucket=bucket, Prefix=LAKE_DATA_PREFIX).get("KeyCount", 0) > 0  # noqa: E731
        if not _wait(landed, flush + 180, step=5):
            problems.append(f"consumer landed nothing under {LAKE_DATA_PREFIX} within {flush + 180:.0f} s")
        for container in started:
            state = _podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container).stdout.strip()
            if state != "running 0":
                logs = _podman("logs", container).stderr.strip().splitlines()[-5:]
                problems.append(f"{container.rsplit('-', 1)[0]} is {state}: {' | '.join(logs)}")
        # The compactor's task, as its schedule runs it: once, to its end.
        args = _run_args(by_name["compactor"], env("compactor"), image("compactor"), f"compactor-{run_id}")
        compactor = _podman("run", "--rm", *args, timeout=600)
        if compactor.returncode != 0:
            problems.append(f"compactor exited {compactor.returncode}: {compactor.stderr.strip()[-500:]}")
        elif not s3.list_objects_v2(Bucket=bucket, Prefix=LAKE_CURATED_PREFIX).get("KeyCount", 0):
            problems.append(f"compactor wrote nothing under {LAKE_CURATED_PREFIX}")
        else:
            glue = boto3.client(
                "glue",
                endpoint_url=moto,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            glue.get_table(DatabaseName=GLUE_DATABASE, Name=CURATED_TABLE)  # raises when the table is not there
        return problems
    finally:
        for container in started:
            _podman("rm", "--force", "--time", "30", container)


@pytest.fixture(scope="module")
def serverless(synthesize_with):
    return synthesize_with(context={"kafka": "msk-serverless"})


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    from tests.consumer.conftest import free_port, start_moto

    port = free_port()
    process = start_moto(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_each_task_runs_as_its_template_says(serverless, service_image, kafka_bootstrap: str, moto: str) -> None:
    problems = run_tasks(serverless, serverless.templates[STREAMING], service_image, kafka_bootstrap, moto)
    assert problems == []


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_task_whose_command_changed_fails_the_run(serverless, service_image, kafka_bootstrap: str, moto: str) -> None:
    template = copy.deepcopy(serverless.templates[STREAMING])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            for container in resource["Properties"]["ContainerDefinitions"]:
                if (
                    container["Name"] == "topics"
                ):  # its command is its entry point (the consumer's image's is the consumer)
                    container["EntryPoint"] = ["python", "-m", "services.common.no_such_module"]
    problems = run_tasks(serverless, template, service_image, kafka_bootstrap, moto)
    assert len(problems) == 1 and problems[0].startswith("topics exited 1"), problems
