"""Kafka's TLS listener and its sign-ins for real: the host's certificate script, and a broker run with the compose
file's properties.

The broker is the local Kafka (the same version as the host's image) configured with exactly the `KAFKA_*`
settings of `compose.yaml`, turned into server properties the way the apache/kafka image does; only addresses
(ports on 127.0.0.1) and the container paths of the compose file's own volumes are mapped to this machine. Its
storage is formatted with the SCRAM users of the compose file's `kafka-users` step, and the topics and ACLs are
made by `services.common.kafka_admin` from `core.kafka_access`, as the `kafka-access` step does on the host.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from stacks.constructs.kafka_host import HOST_DIR

TLS_SCRIPT = HOST_DIR / "kafka-tls.sh"
#: The name and address clients dial; on the host they are the instance's private DNS name and IP.
DNS_NAME = "localhost"
IP_ADDRESS = "127.0.0.1"
#: Environment variables of the image that are JVM options for its start script, not broker properties.
_NOT_PROPERTIES = re.compile(r"KAFKA_(\w+_)?OPTS")


def make_certificates(out_dir: Path, dns_name: str = DNS_NAME, ip_address: str = IP_ADDRESS) -> Path:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    subprocess.run(["bash", str(TLS_SCRIPT), str(out_dir), dns_name, ip_address], check=True, capture_output=True)
    return out_dir


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


# -- the certificates -----------------------------------------------------------------------------------------------


def test_the_script_makes_a_ca_and_a_broker_keystore_and_keeps_no_ca_key(tmp_path: Path):
    tls = make_certificates(tmp_path / "tls")
    assert sorted(p.name for p in tls.iterdir()) == ["broker.pem", "ca.pem"]
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    assert stat.S_IMODE((tls / "broker.pem").stat().st_mode) == 0o600

    keystore = (tls / "broker.pem").read_text()
    blocks = re.findall(r"-----BEGIN ([A-Z ]+)-----", keystore)
    # Kafka's PEM keystore: a PKCS#8 key, unencrypted, then the chain from the broker's certificate up.
    assert blocks == ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]
    leaf, ca_copy = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", keystore, flags=re.S)
    assert ca_copy == (tls / "ca.pem").read_text()
    (tmp_path / "leaf.pem").write_text(leaf)

    assert "CA:TRUE" in openssl("x509", "-in", str(tls / "ca.pem"), "-noout", "-ext", "basicConstraints")
    names = openssl("x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-ext", "subjectAltName")
    assert f"DNS:{DNS_NAME}" in names and f"IP Address:{IP_ADDRESS}" in names
    assert "TLS Web Server Authentication" in openssl(
        "x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-ext", "extendedKeyUsage"
    )
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls / "ca.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_every_host_gets_its_own_ca(tmp_path: Path):
    first = make_certificates(tmp_path / "one") / "ca.pem"
    second = make_certificates(tmp_path / "two") / "ca.pem"
    assert first.read_text() != second.read_text()


def test_the_script_refuses_missing_arguments(tmp_path: Path):
    result = subprocess.run(["bash", str(TLS_SCRIPT), str(tmp_path / "tls")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert not (tmp_path / "tls").exists()


# -- the compose file's Kafka settings as server properties ---------------------------------------------------------


def property_name(env_key: str) -> str:
    """The apache/kafka image's mapping: drop `KAFKA_`, `_` -> `.`, `__` -> `_`, `___` -> `-`, lower case."""
    key = env_key.removeprefix("KAFKA_")
    key = re.sub(r"[^_]_[^_]", lambda m: m.group(0).replace("_", "."), key)
    return key.replace("___", "-").replace("__", "_").lower()


def test_property_names_follow_the_images_mapping():
    assert property_name("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP") == "listener.security.protocol.map"
    assert property_name("KAFKA_LISTENER_NAME_EXTERNAL_SSL_KEYSTORE_TYPE") == "listener.name.external.ssl.keystore.type"
    assert property_name("KAFKA_ABC__DEF") == "abc_def"
    assert property_name("KAFKA_ABC___DEF") == "abc-def"


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's `${VAR:?}`, the only form the host's compose file uses."""
    text = str(value)
    assert re.findall(r"\$\{[^}]*\}", text) == re.findall(r"\$\{\w+:\?\}", text), f"unexpected form in {text!r}"
    return re.sub(r"\$\{(\w+):\?\}", lambda m: env[m.group(1)], text)


#: The Java test's topic, outside the pipeline's.
JAVA_TOPIC = f"tls-java-{uuid.uuid4().hex[:8]}"


def grant_write(admin, user: str, topic: str) -> None:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    binding = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        f"User:{user}",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    for future in admin.create_acls([binding]).values():
        future.result(timeout=30)


@dataclass
class Ports:
    internal: int
    external: int
    controller: int


def compose_properties(host_env: dict[str, str], ports: Ports) -> dict[str, str]:
    """The kafka service's properties, with its ports and volume paths mapped to this machine."""
    kafka = yaml.safe_load((HOST_DIR / "compose.yaml").read_text())["services"]["kafka"]
    volumes = {}
    for volume in kafka["volumes"]:
        source, target, *_ = interpolate(volume, host_env).split(":")
        volumes[target] = source
    port_of = {"INTERNAL": ports.internal, "EXTERNAL": ports.external, "CONTROLLER": ports.controller}

    def local_addresses(value: str, advertised: bool) -> str:
        def one(match: re.Match[str]) -> str:
            name, host = match.group(1), match.group(2)
            # Only EXTERNAL's advertised name is the one a client dials and checks against the certificate.
            host = host if advertised and name == "EXTERNAL" else IP_ADDRESS
            return f"{name}://{host}:{port_of[name]}"

        return re.sub(r"(\w+)://([^:,]*):\d+", one, value)

    properties = {}
    for key, raw in kafka["environment"].items():
        if not key.startswith("KAFKA_") or _NOT_PROPERTIES.fullmatch(key):
            continue
        value = interpolate(raw, host_env)
        name = property_name(key)
        if name == "listeners":
            value = local_addresses(value, advertised=False)
        elif name == "advertised.listeners":
            value = local_addresses(value, advertised=True)
        elif name == "controller.quorum.voters":
            value = re.sub(r"@[^:]+:\d+", f"@{IP_ADDRESS}:{ports.controller}", value)
        elif value in volumes:
            value = volumes[value]
        elif value.startswith(tuple(f"{target}/" for target in volumes)):
            target = next(t for t in volumes if value.startswith(f"{t}/"))
            value = volumes[target] + value[len(target) :]
        properties[name] = value
    return properties


def scram_users(host_env: dict[str, str]) -> dict[str, str]:
    """The users and passwords the compose file's `kafka-users` step formats the storage with."""
    service = yaml.safe_load((HOST_DIR / "compose.yaml").read_text())["services"]["kafka-users"]
    variables = {k: interpolate(v, host_env) for k, v in service["environment"].items() if k.startswith("SCRAM_")}
    command = " ".join(service["command"])
    pairs = re.findall(r'--add-scram "SCRAM-SHA-512=\[name=(\w+),password=\$\$(\w+)\]"', command)
    return {name: variables[variable] for name, variable in pairs}


def test_the_users_step_formats_every_kafka_user_with_its_secrets_password():
    from core.kafka_access import USERS
    from tests.stacks.test_host_files import HOST_ENV

    assert scram_users(HOST_ENV) == {user: HOST_ENV[f"KAFKA_{user.upper()}_PASSWORD"] for user in USERS}


def test_the_compose_file_turns_into_tls_properties(tmp_path: Path):
    from tests.stacks.test_host_files import HOST_ENV

    env = {**HOST_ENV, "KAFKA_DATA_DIR": str(tmp_path / "data"), "KAFKA_TLS_DIR": str(tmp_path / "tls")}
    properties = compose_properties(env, Ports(internal=1, external=2, controller=3))
    assert (
        properties["listener.security.protocol.map"]
        == "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    )
    assert properties["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert (
        f'password="{HOST_ENV["KAFKA_ADMIN_PASSWORD"]}"'
        in properties["listener.name.internal.scram-sha-512.sasl.jaas.config"]
    )
    assert properties["listener.name.external.ssl.keystore.type"] == "PEM"
    assert properties["listener.name.external.ssl.keystore.location"] == str(tmp_path / "tls" / "broker.pem")
    assert properties["log.dirs"] == str(tmp_path / "data")
    assert f"EXTERNAL://{HOST_ENV['KAFKA_ADVERTISED_HOST']}:2" in properties["advertised.listeners"]
    assert "ssl.key.password" not in " ".join(properties)


# -- a real broker ----------------------------------------------------------------------------------------------------


@dataclass
class TlsBroker:
    bootstrap: str
    ca: Path
    passwords: dict[str, str]

    def client(self, user: str = "admin", **overrides: object) -> dict[str, object]:
        """A client of EXTERNAL, as the VPC's clients connect: SASL/SCRAM over TLS, signed in as `user`."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(self.ca),
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": self.passwords[user],
            **overrides,
        }


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    from fitpipe.errors import MissingPrerequisite, UserError
    from fitpipe.kafka.broker import LocalBroker, free_port

    home = tmp_path_factory.mktemp("kafka-tls")
    tls = make_certificates(home / "tls")
    ports = Ports(internal=free_port(), external=free_port(), controller=0)
    host_env = {
        "KAFKA_CLUSTER_ID": "unused-LocalBroker-formats-the-storage",
        "KAFKA_ADVERTISED_HOST": DNS_NAME,
        "KAFKA_DATA_DIR": str(home / "data"),
        "KAFKA_TLS_DIR": str(tls),
        "TOPIC_PARTITIONS": "1",
        "TOPIC_RETENTION_HOURS": "1",
        **{f"KAFKA_{user.upper()}_PASSWORD": secrets.token_urlsafe(16) for user in ("admin", "producer", "consumer")},
    }
    # Formatted with the users of the kafka-users step (LocalBroker(secure=True) formats with the users it finds).
    passwords = scram_users(host_env)
    (home / "credentials.json").write_text(json.dumps(passwords))

    class ComposeBroker(LocalBroker):
        """The local broker, but with the compose file's properties in its server.properties."""

        def _write_config(self, port: int, controller_port: int) -> Path:
            config = super()._write_config(port, controller_port)
            ports.internal, ports.controller = port, controller_port
            lines = [f"{k}={v}" for k, v in compose_properties(host_env, ports).items()]
            config.write_text("\n".join(lines) + "\n")
            return config

    broker = ComposeBroker(home, secure=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FITPIPE_KAFKA_HEAP", "384m")
        try:
            # Ready means admin signs in on INTERNAL; the topics and ACLs are then made as on the host, and the tests
            # below go through EXTERNAL.
            broker.start(port=ports.internal, timeout=60)
        except (MissingPrerequisite, UserError) as error:
            log = broker.log_file.read_text()[-2000:] if broker.log_file.exists() else ""
            broker.stop()
            if isinstance(error, MissingPrerequisite):
                pytest.skip(str(error))
            pytest.fail(f"{error}\n{log}")
    try:
        yield TlsBroker(bootstrap=f"{DNS_NAME}:{ports.external}", ca=tls / "ca.pem", passwords=passwords)
    finally:
        broker.stop()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def failures_of(config: dict[str, object], until: str, wait_s: float = 15.0) -> list[str]:
    """librdkafka's log lines for a client that tries to reach the broker, once one contains `until`."""
    from confluent_kafka import KafkaException, Producer

    handler = Collect()
    logger = logging.getLogger(f"rdkafka.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    producer = Producer({**config, "logger": logger})
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=5)
    deadline = time.monotonic() + wait_s
    while not any(until in m for m in handler.messages) and time.monotonic() < deadline:
        producer.poll(0.2)
    producer.flush(0)
    return handler.messages


@pytest.mark.integration
def test_a_client_with_the_ca_produces_and_consumes_over_tls(tls_broker: TlsBroker):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"tls-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(tls_broker.client())
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    # The broker names itself to TLS clients by EXTERNAL's advertised name, the one its certificate holds.
    brokers = admin.list_topics(timeout=10).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [(DNS_NAME, int(tls_broker.bootstrap.rsplit(":", 1)[1]))]

    delivered = []
    producer = Producer(tls_broker.client(**{"acks": "all", "enable.idempotence": True}))
    producer.produce(topic, key=b"1503960366", value=b'{"steps": 12}', on_delivery=lambda e, m: delivered.append(e))
    assert producer.flush(30) == 0
    assert delivered == [None]

    consumer = Consumer(tls_broker.client(**{"group.id": topic, "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    try:
        message = None
        deadline = time.monotonic() + 30
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(1.0)
            if polled is not None and polled.error() is None:
                message = polled
        assert message is not None, "nothing consumed over TLS"
        assert (message.key(), message.value()) == (b"1503960366", b'{"steps": 12}')
    finally:
        consumer.close()


@pytest.mark.integration
def test_a_client_without_the_ca_fails_verification(tls_broker: TlsBroker):
    config = tls_broker.client()
    del config["ssl.ca.location"]
    messages = failures_of(config, until="certificate verify failed")
    assert any("certificate verify failed" in m for m in messages), messages[-5:]


@pytest.mark.integration
def test_a_plaintext_client_gets_nothing_from_the_tls_port(tls_broker: TlsBroker):
    from confluent_kafka import KafkaException, Producer

    config = tls_broker.client(**{"security.protocol": "PLAINTEXT", "log_level": 0})
    del config["ssl.ca.location"]
    with pytest.raises(KafkaException):
        Producer(config).list_topics(timeout=5)


@pytest.mark.integration
def test_a_java_client_trusts_the_ca_as_a_pem_truststore(tls_broker: TlsBroker, tmp_path: Path):
    """The settings the README gives Java clients, with the Kafka tools' own producer, signed in as producer."""
    from confluent_kafka.admin import AdminClient, NewTopic

    # A topic of its own (its records are not the pipeline's), on which the producer user may write.
    admin = AdminClient(tls_broker.client())
    admin.create_topics([NewTopic(JAVA_TOPIC, 1)])[JAVA_TOPIC].result(timeout=30)
    grant_write(admin, "producer", JAVA_TOPIC)
    from fitpipe.kafka.broker import fetch_jars, require_java

    config = tmp_path / "client.properties"
    config.write_text(
        f"bootstrap.servers={tls_broker.bootstrap}\n"
        "security.protocol=SASL_SSL\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={tls_broker.ca}\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="producer" password="{tls_broker.passwords["producer"]}";\n'
    )
    result = subprocess.run(
        [
            require_java(),
            "-Xmx256m",
            "-cp",
            f"{fetch_jars()}/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            JAVA_TOPIC,
            "--num-records",
            "20",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--command-config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^20 records sent", result.stdout, flags=re.MULTILINE), result.stdout[-1000:]


@pytest.mark.integration
def test_the_certificate_also_holds_the_ip_address(tls_broker: TlsBroker):
    from confluent_kafka.admin import AdminClient

    port = tls_broker.bootstrap.rsplit(":", 1)[1]
    # The only way to the broker's metadata is a verified TLS handshake with the address itself.
    metadata = AdminClient(tls_broker.client(**{"bootstrap.servers": f"{IP_ADDRESS}:{port}"})).list_topics(timeout=10)
    assert metadata.brokers


@pytest.mark.integration
def test_the_services_produce_and_land_over_tls_each_as_its_own_user(tls_broker: TlsBroker, tmp_path: Path):
    """The producer and the consumer, configured by their settings alone (as a client in the VPC would be), work
    through the TLS listener, each signed in as its own user with the rights the host gives it."""
    from core.names import LAKE_DATA_PREFIX
    from services.consumer import ConsumerSettings
    from services.consumer import run as consume
    from services.producer.run import run as produce
    from services.producer.settings import ProducerSettings

    def sign_in(user: str) -> dict[str, object]:
        return {
            "bootstrap_servers": tls_broker.bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_ca_location": tls_broker.ca,
            "sasl_username": user,
            "sasl_password": tls_broker.passwords[user],
        }

    produced = produce(ProducerSettings(**sign_in("producer"), partitions=1, users=2, days=1, progress=False))
    assert (produced.records, produced.errors) == (2 * 1440, 0)

    lake = tmp_path / "lake"
    landed = consume(ConsumerSettings(**sign_in("consumer"), lake_dir=lake), until_caught_up=True)
    assert (landed.records_out, landed.dead_letters) == (2 * 1440, 0)
    assert list((lake / LAKE_DATA_PREFIX).glob("dt=*/*.json.gz"))


@pytest.mark.integration
def test_an_unauthenticated_tls_client_is_refused(tls_broker: TlsBroker):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    config = {k: v for k, v in tls_broker.client().items() if not k.startswith("sasl.")}
    config |= {"security.protocol": "SSL", "log_level": 0}
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=5)


@pytest.mark.integration
def test_a_wrong_password_is_refused_over_tls(tls_broker: TlsBroker):
    messages = failures_of(tls_broker.client("consumer", **{"sasl.password": "wrong"}), until="Authentication failed")
    assert any("SASL authentication error: Authentication failed" in m for m in messages), messages[-5:]


def test_a_ca_file_without_ssl_is_a_settings_error(tmp_path: Path):
    from pydantic import ValidationError

    from services.consumer import ConsumerSettings

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ValidationError, match="only with SECURITY_PROTOCOL=SSL"):
        ConsumerSettings(ssl_ca_location=ca)
    with pytest.raises(ValidationError, match="no file"):
        ConsumerSettings(security_protocol="SSL", ssl_ca_location=tmp_path / "missing.pem")
    assert ConsumerSettings(security_protocol="SSL", ssl_ca_location=ca).kafka_security() == {
        "security.protocol": "ssl",
        "ssl.ca.location": str(ca),
    }
