"""The consumer's one retry policy: transient storage and Kafka errors are retried, anything else fails at once.

The unit tests classify real exception objects (botocore's, confluent-kafka's, Python's); the last test runs a real
consumer on a real broker whose sink has a programming error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from confluent_kafka import KafkaError, KafkaException

from services.consumer.dead_letters import DeadLettersNotSent
from services.consumer.retry import TRANSIENT_KAFKA_ERRORS, Backoff, is_transient, retry
from services.consumer.sinks import LocalSink, ObjectConflict
from services.consumer.writer import LakeWriter
from tests.consumer.conftest import create_topic, make_records, produce_records, settings_for


def s3_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


TRANSIENT = [
    OSError("disk unavailable"),
    PermissionError("read-only"),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    s3_error("InternalError", 500),
    s3_error("ServiceUnavailable", 503),
    s3_error("SlowDown", 503),
    s3_error("Throttling", 400),
    s3_error("ConditionalRequestConflict", 409),
    s3_error("NoSuchBucket", 404),  # a restarted S3-compatible store, before its buckets are back
    KafkaException(KafkaError(KafkaError._TIMED_OUT)),
    KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS)),
    KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)),  # a right an operator gives back
    DeadLettersNotSent(KafkaError(KafkaError._FATAL, "broken sequence", fatal=True)),  # producer replaced
]
NOT_TRANSIENT = [
    TypeError("unsupported operand"),
    KeyError("dt"),
    AttributeError("no attribute"),
    ValueError("bad value"),
    ObjectConflict("dt=2016-04-12/x.json.gz", "folder lake"),
    s3_error("AccessDenied", 403),
    s3_error("NoSuchKey", 404),
    KafkaException(KafkaError(KafkaError._FATAL, "fenced", fatal=True)),
]


#: The Kafka errors retried, written out here from the policy's documentation: a change to the list fails this test.
TRANSIENT_KAFKA = {
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "_RESOLVE",
    "_TIMED_OUT",
    "_MSG_TIMED_OUT",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
    "KAFKA_STORAGE_ERROR",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_FOR_PARTITION",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "_WAIT_COORD",
    "UNKNOWN_TOPIC_OR_PART",
    "_UNKNOWN_PARTITION",
    "REBALANCE_IN_PROGRESS",
    "ILLEGAL_GENERATION",
    "UNKNOWN_MEMBER_ID",
    "_ASSIGNMENT_LOST",
    "GROUP_AUTHORIZATION_FAILED",
    "TOPIC_AUTHORIZATION_FAILED",
}
#: Kafka errors that no wait mends: retrying them would stall the partition for good.
PERMANENT_KAFKA = [
    "MSG_SIZE_TOO_LARGE",
    "RECORD_LIST_TOO_LARGE",
    "INVALID_RECORD",
    "INVALID_MSG",
    "INVALID_CONFIG",
    "INVALID_REQUIRED_ACKS",
    "UNSUPPORTED_VERSION",
    "_INVALID_ARG",
    "_UNKNOWN_TOPIC",
    "TOPIC_EXCEPTION",
    "OFFSET_OUT_OF_RANGE",
    "FENCED_INSTANCE_ID",
    "CLUSTER_AUTHORIZATION_FAILED",
    "SASL_AUTHENTICATION_FAILED",
]


def test_the_transient_kafka_errors_are_a_short_explicit_list() -> None:
    assert {KafkaError(code).name() for code in TRANSIENT_KAFKA_ERRORS} == TRANSIENT_KAFKA
    for name in TRANSIENT_KAFKA:
        assert is_transient(KafkaException(KafkaError(getattr(KafkaError, name)))), name
        assert not is_transient(KafkaException(KafkaError(getattr(KafkaError, name), fatal=True))), "fatal wins"


@pytest.mark.parametrize("name", PERMANENT_KAFKA)
def test_other_kafka_errors_are_not_retried(name: str) -> None:
    assert not is_transient(KafkaException(KafkaError(getattr(KafkaError, name))))
    assert not is_transient(DeadLettersNotSent(KafkaError(getattr(KafkaError, name)))), "nor a send failing on it"


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e}"[:60])
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e}"[:60])
def test_other_errors_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_transient_error_is_retried_until_the_action_succeeds() -> None:
    calls, waits, reports = [], [], []

    def action() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("storage unavailable")
        return "written"

    result = retry(action, Backoff(0.5, 30), waits.append, lambda *report: reports.append(report))
    assert result == ("written", 3)
    assert [a for a, _delay, _exc in reports] == [1, 2]
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0, "exponential backoff from 0.5 s, jittered"
    assert [d for _a, d, _e in reports] == waits


def test_a_programming_error_is_raised_at_once() -> None:
    calls = []

    def action() -> None:
        calls.append(1)
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        retry(action, Backoff(0.5, 30), lambda _s: pytest.fail("waited"), lambda *_: pytest.fail("reported"))
    assert calls == [1]


class BuggySink(LocalSink):
    """A folder sink with a programming error in its put."""

    def put(self, key: str, data: bytes) -> bool:
        raise TypeError(f"put() of {key}: a bug, not an outage")


@pytest.mark.integration
def test_a_type_error_in_a_sink_fails_the_consumer_at_once(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    produce_records(kafka_bootstrap, topic_name, make_records(50, seed=3))
    writer = LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path), sink=BuggySink(tmp_path))
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            writer.run(until_caught_up=True)
        except BaseException as exc:
            outcome["error"] = exc

    running = threading.Thread(target=run, daemon=True)
    running.start()
    running.join(60)
    if running.is_alive():  # retrying: stop it as a second signal would
        writer.force_stop.set()
        writer.stop_event.set()
        running.join(30)
    assert isinstance(outcome.get("error"), TypeError), outcome
    assert writer.summary.storage_retries == 0, "a programming error is not retried"
    assert writer.summary.records_out == 0
