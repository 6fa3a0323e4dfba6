"""Kafka sign-in and ACLs, proven on a real broker started as `fitpipe kafka start --secure` starts it: the AWS host's
SASL/SCRAM-SHA-512 users and its deny-by-default ACLs (the same `core.kafka_access` declaration)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.kafka_access import ADMIN_USER, CONSUMER_USER, PRODUCER_USER, USERS
from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, LAKE_DATA_PREFIX, TOPIC

pytestmark = pytest.mark.integration

FITPIPE = [sys.executable, "-m", "fitpipe"]


@dataclass
class SecureBroker:
    home: Path
    bootstrap: str

    def passwords(self) -> dict[str, str]:
        return json.loads((self.home / "credentials.json").read_text())

    def client(self, user: str | None, password: str | None = None, **overrides: object) -> dict[str, object]:
        """librdkafka settings of a client signing in as `user` (None: no sign-in at all)."""
        config: dict[str, object] = {"bootstrap.servers": self.bootstrap, "log_level": 0}
        if user is not None:
            config |= {
                "security.protocol": "sasl_plaintext",
                "sasl.mechanisms": "SCRAM-SHA-512",
                "sasl.username": user,
                "sasl.password": password if password is not None else self.passwords()[user],
            }
        return {**config, **overrides}

    def settings(self, user: str) -> dict[str, object]:
        """The services' settings for `user`: what `*_SECURITY_PROTOCOL` and `*_SASL_*` hold."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_username": user,
            "sasl_password": self.passwords()[user],
        }

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCER_", "CONSUMER_", "KAFKA_BOOT"))}
        return {**clean, "FITPIPE_KAFKA_HOME": str(self.home), "FITPIPE_KAFKA_HEAP": "384m"}


def fitpipe(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*FITPIPE, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    home = tmp_path_factory.mktemp("kafka-secure")
    broker = SecureBroker(home=home, bootstrap="")
    started = fitpipe(["kafka", "start", "--secure"], broker.env())
    try:
        assert started.returncode == 0, started.stderr
        broker.bootstrap = started.stdout.strip()
        yield broker
    finally:
        fitpipe(["kafka", "stop"], broker.env())


def test_every_user_has_its_own_password_kept_for_the_owner_only(secure_broker: SecureBroker):
    passwords = secure_broker.passwords()
    assert set(passwords) == set(USERS)
    assert len(set(passwords.values())) == len(USERS)
    assert stat.S_IMODE((secure_broker.home / "credentials.json").stat().st_mode) == 0o600
    # The broker's settings hold the admin's password in their JAAS lines.
    assert stat.S_IMODE((secure_broker.home / "server.properties").stat().st_mode) == 0o600
    properties = (secure_broker.home / "server.properties").read_text()
    assert "allow.everyone.if.no.acl.found=false" in properties
    assert "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" in properties
    status = fitpipe(["kafka", "status"], secure_broker.env())
    assert status.returncode == 0 and status.stdout.strip().endswith("secure")


def test_the_services_topics_and_acls_are_in_place(secure_broker: SecureBroker):
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient(secure_broker.client(ADMIN_USER))
    assert {TOPIC, DEAD_LETTER_TOPIC} <= set(admin.list_topics(timeout=10).topics)
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    acls = admin.describe_acls(every).result(timeout=10)
    granted = {(a.principal, a.restype.name, a.name, a.operation.name, a.permission_type.name) for a in acls}
    assert granted == {
        ("User:producer", "TOPIC", TOPIC, "WRITE", "ALLOW"),
        ("User:consumer", "TOPIC", TOPIC, "READ", "ALLOW"),
        ("User:consumer", "GROUP", CONSUMER_GROUP, "READ", "ALLOW"),
        ("User:consumer", "TOPIC", DEAD_LETTER_TOPIC, "WRITE", "ALLOW"),
        ("User:consumer", "TOPIC", DEAD_LETTER_TOPIC, "DESCRIBE_CONFIGS", "ALLOW"),
    }


def test_every_service_works_with_its_own_credentials(secure_broker: SecureBroker, tmp_path: Path):
    """`fitpipe produce` and `fitpipe consume` find the secure broker and sign in as their own user; a record the
    consumer cannot land goes to the dead-letter topic, which only its user may write."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    env = secure_broker.env()
    produced = fitpipe(["produce", "simulate", "--users", "2", "--days", "1", "--no-progress"], env)
    assert produced.returncode == 0, produced.stderr
    garbage = Producer(secure_broker.client(PRODUCER_USER))
    garbage.produce(TOPIC, key=b"1", value=b"not json")
    assert garbage.flush(30) == 0

    lake = tmp_path / "lake"
    consumed = fitpipe(["consume", "--lake", str(lake), "--until-caught-up"], env)
    assert consumed.returncode == 0, consumed.stderr
    assert "2,880 records" in consumed.stdout, consumed.stdout
    assert "1 dead letters" in consumed.stdout, consumed.stdout
    assert list((lake / LAKE_DATA_PREFIX).glob("dt=*/*.json.gz"))

    # The dead letter is there: read back by the admin, the only user besides the brokers that may read it.
    reader = Consumer(secure_broker.client(ADMIN_USER, **{"group.id": f"check-{uuid.uuid4().hex[:6]}"}))
    reader.assign([TopicPartition(DEAD_LETTER_TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
    try:
        letters = []
        deadline = time.monotonic() + 30
        while not letters and time.monotonic() < deadline:
            message = reader.poll(1.0)
            if message is not None and message.error() is None:
                letters.append(message.value())
        assert letters == [b"not json"]
    finally:
        reader.close()


def test_the_services_settings_sign_in(secure_broker: SecureBroker, tmp_path: Path):
    """The services configured by their settings alone (what the containers get from the environment)."""
    from services.consumer import ConsumerSettings
    from services.consumer import run as consume
    from services.producer.run import run as produce
    from services.producer.settings import ProducerSettings

    produced = produce(ProducerSettings(**secure_broker.settings(PRODUCER_USER), users=1, days=1, progress=False))
    assert (produced.records, produced.errors) == (1440, 0)
    landed = consume(
        ConsumerSettings(**secure_broker.settings(CONSUMER_USER), lake_dir=tmp_path / "lake"), until_caught_up=True
    )
    assert landed.records_out >= 1440


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_an_unauthenticated_client_is_refused(secure_broker: SecureBroker):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    with pytest.raises(KafkaException):
        AdminClient(secure_broker.client(None)).list_topics(timeout=5)


def test_a_wrong_password_is_refused(secure_broker: SecureBroker):
    from confluent_kafka import KafkaException, Producer

    handler = Collect()
    logger = logging.getLogger(f"rdkafka.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    wrong = secure_broker.client(PRODUCER_USER, password="not-the-password", log_level=3)
    producer = Producer({**wrong, "logger": logger})
    producer.produce(TOPIC, value=b"{}")
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=5)
    deadline = time.monotonic() + 15
    while not any("Authentication failed" in m for m in handler.messages) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert any("SASL authentication error: Authentication failed" in m for m in handler.messages), handler.messages
    # Nothing was delivered: the record is still queued after a flush.
    assert producer.flush(1) == 1


def test_the_producers_identity_cannot_read_the_topic(secure_broker: SecureBroker):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    # Assigned partitions: the fetch asks for the topic's READ right (librdkafka also looks up the group's
    # coordinator, which is refused too, and is not what this test is about).
    consumer = Consumer(secure_broker.client(PRODUCER_USER, **{"group.id": "unused", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    try:
        errors = []
        deadline = time.monotonic() + 20
        while KafkaError.TOPIC_AUTHORIZATION_FAILED not in errors and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            assert message is None or message.error() is not None, "the producer's user read a record"
            if message is not None:
                errors.append(message.error().code())
        assert KafkaError.TOPIC_AUTHORIZATION_FAILED in errors, errors
    finally:
        consumer.close()


def test_the_consumers_identity_cannot_write_the_data_topic(secure_broker: SecureBroker):
    from confluent_kafka import KafkaError, Producer

    errors = []
    producer = Producer(secure_broker.client(CONSUMER_USER, **{"message.timeout.ms": 10_000}))
    producer.produce(TOPIC, value=b"{}", on_delivery=lambda error, _msg: errors.append(error))
    producer.flush(15)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]


def test_no_service_may_create_a_topic(secure_broker: SecureBroker):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    for user in (PRODUCER_USER, CONSUMER_USER):
        name = f"new-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(secure_broker.client(user))  # kept until its future is done
        future = admin.create_topics([NewTopic(name, 1)])[name]
        with pytest.raises(KafkaException) as refused:
            future.result(timeout=15)
        assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_service_reads_its_credentials_from_a_secret(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """On AWS a client in the VPC names the secret (`*_SASL_SECRET_ARN`); here the secret sits in a moto server."""
    import boto3

    from services.producer.run import run as produce
    from services.producer.settings import ProducerSettings
    from tests.consumer.conftest import free_port, start_moto

    port = free_port()
    moto = start_moto(port)
    try:
        for name, value in {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }.items():
            monkeypatch.setenv(name, value)
        document = {"username": PRODUCER_USER, "password": secure_broker.passwords()[PRODUCER_USER]}
        arn = boto3.client("secretsmanager").create_secret(Name="producer", SecretString=json.dumps(document))["ARN"]
        settings = ProducerSettings(
            bootstrap_servers=secure_broker.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_secret_arn=arn,
            users=1,
            days=1,
            progress=False,
        )
        produced = produce(settings)
        assert (produced.records, produced.errors) == (1440, 0)
    finally:
        moto.terminate()
        moto.wait(10)


def test_a_commit_the_broker_refuses_is_retried_and_the_batch_not_counted(secure_broker: SecureBroker, tmp_path: Path):
    """The group's READ right is taken from the consumer's user while it runs: it still reads the topic, and writes
    the batch to the lake, but the broker refuses the commit. The consumer must notice it (a synchronous commit
    whose error is checked), log it, keep retrying, and not count the batch as landed; once the right is back, the
    commit goes through and nothing is lost or landed twice."""
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    from core.schema import encode
    from services.consumer import ConsumerSettings
    from services.consumer.logs import LOGGER_NAME
    from services.consumer.sinks import LocalSink
    from services.consumer.writer import LakeWriter
    from tests.consumer.conftest import Background, identity_multiset, lake_records, make_records, wait_until

    group = f"lake-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(secure_broker.client(ADMIN_USER))
    right = AclBinding(
        ResourceType.GROUP,
        group,
        ResourcePatternType.LITERAL,
        f"User:{CONSUMER_USER}",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    admin.create_acls([right])[right].result(timeout=15)
    checker = Consumer(secure_broker.client(ADMIN_USER, **{"group.id": group}))
    partitions = [TopicPartition(TOPIC, p) for p in checker.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions]

    def committed() -> list[int]:
        return [tp.offset for tp in checker.committed(partitions, timeout=10)]

    def high_watermarks() -> list[int]:
        return [checker.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]

    producer = Producer(secure_broker.client(PRODUCER_USER))

    def produce(records: list) -> None:
        for record in records:
            producer.produce(TOPIC, key=str(record["id"]).encode(), value=encode(record))
        assert producer.flush(30) == 0

    before, during = make_records(100, seed=11), make_records(60, seed=12)
    produce(before)
    retried: list[str] = []

    class Retries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "failed; retrying":
                retried.append(getattr(record, "fields", {}).get("action", ""))

    handler = Retries()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    lake = LocalSink(tmp_path / "lake")
    settings = ConsumerSettings(
        **secure_broker.settings(CONSUMER_USER),
        topic=TOPIC,
        group_id=group,
        dlq_topic=DEAD_LETTER_TOPIC,
        flush_interval_s=0.5,
        retry_initial_s=0.2,
        retry_max_s=1.0,
        session_timeout_ms=30_000,
        lake_dir=tmp_path / "lake",
    )
    try:
        with Background(LakeWriter(settings, sink=lake)) as running:
            writer = running.writer
            assert wait_until(lambda: committed() == high_watermarks(), timeout=60), "the backlog was not landed"
            landed, offsets = writer.summary.records_out, committed()

            admin.delete_acls(
                [
                    AclBindingFilter(
                        ResourceType.GROUP,
                        group,
                        ResourcePatternType.LITERAL,
                        f"User:{CONSUMER_USER}",
                        "*",
                        AclOperation.READ,
                        AclPermissionType.ALLOW,
                    )
                ]
            )
            probe = Consumer(secure_broker.client(CONSUMER_USER, **{"group.id": group}))

            def refused() -> bool:
                try:
                    probe.committed(partitions, timeout=5)
                except KafkaException:
                    return True
                return False

            try:
                assert wait_until(refused, timeout=30), "the group's right was not taken away"
            finally:
                probe.close()
            produce(during)
            assert wait_until(lambda: retried.count("commit") >= 2, timeout=60), (
                f"the refused commit was not noticed and retried (retried: {retried})"
            )
            assert writer.summary.records_out == landed, "a batch whose commit was refused was counted as landed"
            assert committed() == offsets

            admin.create_acls([right])[right].result(timeout=15)
            assert wait_until(lambda: committed() == high_watermarks(), timeout=90), "the commit never went through"
        in_lake, expected = identity_multiset(lake_records(lake)), identity_multiset(before + during)
        assert {key: in_lake[key] for key in expected} == expected, "a record lost or landed twice"
    finally:
        logger.removeHandler(handler)
        checker.close()


def test_the_consumer_reads_the_dead_letter_topics_limit_as_its_own_user(secure_broker: SecureBroker, tmp_path: Path):
    """Signed in as its own user, with the declared rights only, the consumer reads the dead-letter topic's
    `max.message.bytes` from the broker and cuts a dead letter to it. Had it fallen back to the producer's
    1,000,000 bytes, the 60 kB letter would have gone whole, been refused by the topic and been sent without its
    value. Without the `DESCRIBE_CONFIGS` right the same read gets the fallback: that right is what it takes."""
    import random

    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AclBinding, AclBindingFilter, AdminClient, NewTopic

    from services.common.kafka_admin import acl_bindings, apply
    from services.consumer import ConsumerSettings, LakeWriter
    from services.consumer.dead_letters import PRODUCER_MAX_BYTES, TopicLimit
    from services.consumer.logs import LOGGER_NAME
    from tests.consumer.conftest import Background, headers_of, wait_until

    def matching(binding: AclBinding) -> AclBindingFilter:
        return AclBindingFilter(
            binding.restype,
            binding.name,
            binding.resource_pattern_type,
            binding.principal,
            binding.host,
            binding.operation,
            binding.permission_type,
        )

    suffix = uuid.uuid4().hex[:8]
    topic, dead_letter_topic, group, limit = f"data-{suffix}", f"data-{suffix}.dlq", f"lake-{suffix}", 20_000
    admin = AdminClient(secure_broker.client(ADMIN_USER))
    created = admin.create_topics(
        [NewTopic(topic, 1), NewTopic(dead_letter_topic, 1, config={"max.message.bytes": str(limit)})]
    )
    for future in created.values():
        future.result(timeout=30)
    apply(admin, topic, dead_letter_topic, group, partitions=1)  # the declared ACLs, for these names
    handler = Collect()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        denied: list[str] = []
        assert TopicLimit(secure_broker.client(CONSUMER_USER), dead_letter_topic, denied.append)() == limit
        assert denied == []

        large = b"\xff" + random.Random(7).randbytes(60_000)  # not UTF-8, and incompressible
        producer = Producer(secure_broker.client(PRODUCER_USER))
        producer.produce(topic, key=b"1", value=large)
        assert producer.flush(30) == 0
        settings = ConsumerSettings(
            **secure_broker.settings(CONSUMER_USER),
            topic=topic,
            group_id=group,
            dlq_topic=dead_letter_topic,
            flush_interval_s=0.5,
            lake_dir=tmp_path / "lake",
        )
        with Background(LakeWriter(settings)) as running:
            assert wait_until(lambda: running.writer.summary.dead_letters == 1, timeout=60), "no dead letter sent"
        assert not [m for m in handler.messages if "max.message.bytes" in m], handler.messages

        reader = Consumer(secure_broker.client(ADMIN_USER, **{"group.id": f"check-{suffix}"}))
        reader.assign([TopicPartition(dead_letter_topic, 0, OFFSET_BEGINNING)])
        try:
            letters = []
            deadline = time.monotonic() + 30
            while not letters and time.monotonic() < deadline:
                message = reader.poll(1.0)
                if message is not None and message.error() is None:
                    letters.append(message)
        finally:
            reader.close()
        (letter,) = letters
        assert letter.value() is not None, "sent without its value: the limit was not read"
        assert large.startswith(letter.value()) and limit * 0.9 < len(letter.value()) < limit
        assert headers_of(letter)["truncated.from.bytes"] == str(len(large)).encode()

        (describe,) = [
            matching(b) for b in acl_bindings(topic, dead_letter_topic, group) if b.operation.name == "DESCRIBE_CONFIGS"
        ]
        admin.delete_acls([describe])[describe].result(timeout=15)
        without = TopicLimit(secure_broker.client(CONSUMER_USER), dead_letter_topic, denied.append)
        assert wait_until(lambda: without() == PRODUCER_MAX_BYTES, timeout=30), "read without the right"
        assert denied and "authoriz" in denied[-1].lower(), denied
    finally:
        logger.removeHandler(handler)
        rights = [matching(b) for b in acl_bindings(topic, dead_letter_topic, group)]
        for future in admin.delete_acls(rights).values():
            future.result(timeout=15)
        for future in admin.delete_topics([topic, dead_letter_topic]).values():
            future.result(timeout=30)
