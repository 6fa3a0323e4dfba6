"""The host's Kafka as its compose file runs it, with podman and the `apache/kafka` image (its stand-in where Docker
Hub is out of reach, docs/stand-in-images.md): the `kafka-users` step formats the data volume with the SCRAM users,
Kafka starts on it and passes its own health check, `kafka-access` creates the topics and ACLs as admin, and the
producer's image writes to the VPC listener over TLS, signed in as the producer user with the CA `kafka-tls.sh` makes.

Each container runs with the entry point, command, environment and volumes `docker compose config` renders from
compose.yaml; only its network differs (a podman network of the test's own, without the compose file's fixed
addresses, and with the VPC listener's name pointing at the broker's container)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from stacks.constructs.kafka_host import HOST_DIR
from tests.containers import podman
from tests.stacks.test_host_files import HOST_ENV, compose_config, docker_config  # noqa: F401  (a fixture)

#: The apache/kafka image's user, who owns the data volume's folder and the keystore (setup.sh, kafka-data.sh).
KAFKA_UID = 1000


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([podman(), *args], capture_output=True, text=True, timeout=timeout, check=False)


def _run_args(service: dict, name: str, network: str, alias: str) -> list[str]:
    """`podman run` options for a rendered compose service: its environment, volumes and entry point."""
    args = ["--name", name]
    if service.get("network_mode") == "none":
        args += ["--network", "none"]
    else:
        args += ["--network", network, "--network-alias", alias]
    for key, value in (service.get("environment") or {}).items():
        args += ["-e", f"{key}={value}"]
    for volume in service.get("volumes") or []:
        args += ["-v", f"{volume['source']}:{volume['target']}{':ro' if volume.get('read_only') else ''}"]
    if service.get("entrypoint"):
        args += ["--entrypoint", json.dumps(service["entrypoint"])]
    return args


def _one_shot(service: dict, name: str, image: str, network: str) -> subprocess.CompletedProcess[str]:
    return _podman(
        "run", "--rm", *_run_args(service, name, network, name), image, *(service.get("command") or []), timeout=600
    )


@pytest.fixture
def host(tmp_path: Path, docker_config: Path) -> dict:  # noqa: F811
    """The rendered compose project, on this test's data and TLS folders (made as setup.sh makes them)."""
    data = tmp_path / "kafka-data"
    data.mkdir(mode=0o750)
    os.chown(data, KAFKA_UID, KAFKA_UID)
    tls = tmp_path / "tls"
    made = subprocess.run(
        ["bash", str(HOST_DIR / "kafka-tls.sh"), str(tls), "kafka", "127.0.0.1"], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    os.chown(tls / "broker.pem", KAFKA_UID, KAFKA_UID)
    (tls / "broker.pem").chmod(0o400)
    env = {**HOST_ENV, "KAFKA_DATA_DIR": str(data), "KAFKA_TLS_DIR": str(tls), "KAFKA_ADVERTISED_HOST": "kafka"}
    rendered = compose_config(docker_config, env)
    assert rendered.returncode == 0, rendered.stderr
    return {"services": _unescaped(json.loads(rendered.stdout)["services"]), "tls": tls}


def _unescaped(value):
    """`docker compose config` writes a literal `$` as `$$`, so that its output reads back the same; a container is
    given the `$`."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescaped(item) for item in value]
    if isinstance(value, dict):
        return {key: _unescaped(item) for key, item in value.items()}
    return value


def _wait_healthy(service: dict, name: str, timeout: float = 240) -> bool:
    """The compose file's health check, run in the container as podman's `healthcheck run` runs it, until it passes."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running":
            return False
        if _podman("exec", name, *test[1:], timeout=60).returncode == 0:
            return True
        time.sleep(3)
    return False


def test_the_hosts_kafka_comes_up_with_its_users_and_takes_the_producer_over_tls(
    host: dict, service_image, stand_in_images: list[str]
) -> None:
    from fitpipe.containers import kafka_image

    services = host["services"]
    assert services["kafka"]["image"] == services["kafka-users"]["image"] == kafka_image().removeprefix("docker.io/")
    run_id = uuid.uuid4().hex[:8]
    network = f"host-stack-{run_id}"
    assert _podman("network", "create", network).returncode == 0
    kafka = f"kafka-{run_id}"
    try:
        users = _one_shot(services["kafka-users"], f"kafka-users-{run_id}", services["kafka-users"]["image"], network)
        assert users.returncode == 0, f"kafka-users exited {users.returncode}:\n{(users.stdout + users.stderr)[-3000:]}"

        started = _podman(
            "run", "-d", *_run_args(services["kafka"], kafka, network, "kafka"), services["kafka"]["image"]
        )
        assert started.returncode == 0, started.stderr
        healthy = _wait_healthy(services["kafka"], kafka)
        logs = _podman("logs", kafka)
        lines = (logs.stdout + logs.stderr).splitlines()
        errors = "\n".join(line for line in lines if " ERROR " in line or "Exception" in line)[:3000]
        assert healthy, f"kafka is not healthy; its errors:\n{errors}\nits last lines:\n" + "\n".join(lines[-15:])

        access = _one_shot(services["kafka-access"], f"kafka-access-{run_id}", service_image("consumer"), network)
        assert access.returncode == 0, f"kafka-access exited {access.returncode}:\n{access.stderr[-3000:]}"

        # The producer of the VPC: the EXTERNAL listener, SASL over TLS, trusting the host's CA.
        producer = services["producer"]["environment"]
        produced = _podman(
            "run", "--rm", "--network", network,
            "-v", f"{host['tls'] / 'ca.pem'}:/tls/ca.pem:ro",
            "-e", "PRODUCER_BOOTSTRAP_SERVERS=kafka:9092",
            "-e", "PRODUCER_SECURITY_PROTOCOL=SASL_SSL",
            "-e", "PRODUCER_SSL_CA_LOCATION=/tls/ca.pem",
            "-e", "PRODUCER_SASL_USERNAME=producer",
            "-e", f"PRODUCER_SASL_PASSWORD={producer['PRODUCER_SASL_PASSWORD']}",
            "-e", f"PRODUCER_TOPIC={producer['PRODUCER_TOPIC']}",
            "-e", f"PRODUCER_PARTITIONS={producer['PRODUCER_PARTITIONS']}",
            "-e", "PRODUCER_USERS=1", "-e", "PRODUCER_DAYS=1", "-e", "PRODUCER_START_DATE=2026-01-05",
            service_image("producer"),
            timeout=600,
        )  # fmt: skip
        assert produced.returncode == 0, (
            f"the producer over TLS exited {produced.returncode}:\n{produced.stderr[-3000:]}"
        )
    finally:
        _podman("rm", "--force", "--time", "30", kafka, timeout=120)
        _podman("network", "rm", "--force", network)
