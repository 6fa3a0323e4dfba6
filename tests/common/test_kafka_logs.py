"""librdkafka's log through the project's logging: retries held back with their reason kept, detail on request."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from services.common import kafka_logs


def closed_port() -> str:
    """An address on this machine where nothing listens: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def service() -> str:
    """A logger name of its own, so that one test's detail setting does not reach another's."""
    return f"tests.kafka_logs_{uuid.uuid4().hex[:8]}"


def _fail_to_connect(service: str) -> None:
    admin = AdminClient({"bootstrap.servers": closed_port(), **kafka_logs.client_logging(service)})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=2)
    admin.poll(0)  # serve the log lines librdkafka queued meanwhile


def test_retries_are_held_back_and_their_reason_kept(service: str, caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger(service).setLevel(logging.WARNING)  # a command line without -v
    caplog.set_level(logging.DEBUG)
    _fail_to_connect(service)
    assert [r for r in caplog.records if r.name.startswith(service)] == []
    assert kafka_logs.last_failure(service) == "Connection refused"


def test_a_service_at_info_says_once_that_it_retries(service: str, caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger(service).setLevel(logging.INFO)
    caplog.set_level(logging.INFO)
    _fail_to_connect(service)
    _fail_to_connect(service)
    lines = [r for r in caplog.records if r.name == f"{service}.librdkafka"]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.INFO, "retrying the Kafka connection: Connection refused")
    ]


def test_detail_passes_every_line(service: str, caplog: pytest.LogCaptureFixture) -> None:
    kafka_logs.show_detail(service)
    caplog.set_level(logging.DEBUG)
    _fail_to_connect(service)
    fails = [r for r in caplog.records if r.name == f"{service}.librdkafka" and r.getMessage().startswith("FAIL")]
    assert fails and all("Connection refused" in r.getMessage() for r in fails)
    assert all(r.levelno == logging.ERROR for r in fails)
    assert kafka_logs.client_logging(service)["log_level"] == 7


def test_the_environment_asks_for_detail(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kafka_logs.LOG_LEVEL_ENV, "warning")
    config = kafka_logs.client_logging(service)
    assert config["logger"].level == logging.WARNING and config["log_level"] == 7


def test_a_consumer_logs_through_the_service_too(service: str) -> None:
    consumer = Consumer({"bootstrap.servers": closed_port(), "group.id": "g", **kafka_logs.client_logging(service)})
    try:
        with pytest.raises(KafkaException):
            consumer.list_topics("t", timeout=2)
        assert kafka_logs.last_failure(service, consumer) == "Connection refused"
    finally:
        consumer.close()


def test_a_fresh_broker_loading_its_coordinators_is_not_a_failure(
    service: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The line a fresh broker draws from an idempotent producer (as `fitpipe demo` met it): held back, no notice."""
    logging.getLogger(service).setLevel(logging.INFO)
    caplog.set_level(logging.DEBUG)
    logger = kafka_logs.client_logging(service)["logger"]
    logger.warning(
        "GETPID [rdkafka#producer-3] [thrd:main]: Failed to acquire idempotence PID from broker "
        "127.0.0.1:40001/1: Broker: Coordinator load in progress: retrying"
    )
    assert [r for r in caplog.records if r.name.startswith(service)] == []
    assert kafka_logs.last_failure(service) is None
