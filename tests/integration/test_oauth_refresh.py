"""An idle Kafka client keeps its OAUTHBEARER token fresh, proven on a real broker.

Amazon MSK's IAM sign-in hands librdkafka a token through the settings' `oauth_cb`; a token lives 15 minutes there.
Here a local KRaft broker takes OAUTHBEARER sign-ins checked by Kafka's unsecured JWS validator, the same `oauth_cb`
(`services.common.settings.oauth_token_callback`) signs short-lived unsecured tokens in place of MSK's signer, and
the broker makes every connection sign in again within seconds (`connections.max.reauth.ms`), so a client that kept
an expired token would be cut off. A producer and a consumer sit idle, never polled, for several token lifetimes:
the callback is called again meanwhile, and each client still works afterwards.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from fitpipe.kafka import LocalBroker
from services.common.settings import oauth_token_callback

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Seconds each test token lives (MSK's live 15 minutes); librdkafka asks for the next at about 80 % of it.
TOKEN_SECONDS = 6
#: The broker makes a connection sign in again at least this often.
REAUTH_MS = 3000
UNSECURED = "org.apache.kafka.common.security.oauthbearer.internals.unsecured"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def unsecured_token(subject: str, lifetime_s: float) -> tuple[str, int]:
    """An unsigned JWS (`alg: none`) for `subject`, and its expiry in milliseconds since the epoch, as MSK's signer
    returns its tokens."""
    now = time.time()
    expiry_ms = int((now + lifetime_s) * 1000)
    claims = {"sub": subject, "iat": int(now), "exp": expiry_ms / 1000}
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}.", expiry_ms


class CountingSigner:
    """Signs unsecured tokens and counts the calls, from whichever thread librdkafka makes them."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, region: str) -> tuple[str, int]:
        with self._lock:
            self.calls += 1
        return unsecured_token(self.subject, TOKEN_SECONDS)


class OAuthBearerBroker(LocalBroker):
    """The local broker with an OAUTHBEARER listener (SASL_PLAINTEXT, unsecured JWS tokens), for this test only."""

    def _security_properties(self) -> list[str]:
        jaas = f'{LOGIN_MODULE} required unsecuredLoginStringClaim_sub="broker";'
        return [
            "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=OAUTHBEARER",
            "sasl.mechanism.inter.broker.protocol=OAUTHBEARER",
            f"listener.name.plaintext.oauthbearer.sasl.jaas.config={jaas}",
            f"listener.name.plaintext.oauthbearer.sasl.server.callback.handler.class="
            f"{UNSECURED}.OAuthBearerUnsecuredValidatorCallbackHandler",
            f"listener.name.plaintext.oauthbearer.sasl.login.callback.handler.class="
            f"{UNSECURED}.OAuthBearerUnsecuredLoginCallbackHandler",
            f"connections.max.reauth.ms={REAUTH_MS}",
        ]

    def _ready_config(self) -> dict[str, Any]:
        return client_security(CountingSigner("ready-check"))


def client_security(signer: Callable[[str], tuple[str, int]]) -> dict[str, Any]:
    """What `kafka_security()` gives an AWS_MSK_IAM client, over this broker's plaintext listener."""
    return {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": oauth_token_callback("local", signer),
    }


@pytest.fixture(scope="module")
def oauth_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = OAuthBearerBroker(Path(tmp_path_factory.mktemp("kafka-oauth")))
    try:
        yield broker.start()
    finally:
        broker.stop()


def wait_for_calls(signer: CountingSigner, wanted: int, limit_s: float) -> None:
    """Sleep (the client is not polled meanwhile) until the signer has been called `wanted` times."""
    deadline = time.monotonic() + limit_s
    while signer.calls < wanted and time.monotonic() < deadline:
        time.sleep(0.5)


def next_record(consumer: Consumer, limit_s: float = 30) -> bytes | None:
    """The next record's value; a retriable error on the way (a fresh broker's group coordinator still loading)
    is waited out, any other fails the test."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is None:
            continue
        error = message.error()
        if error is None:
            return message.value()
        assert error.retriable() or error.code() == KafkaError.NOT_COORDINATOR, error
    return None


def deliver(producer: Producer, topic: str, value: bytes) -> list[Any]:
    errors: list[Any] = []
    producer.produce(topic, value=value, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(30) == 0, "the record was not delivered"
    return errors


def test_an_idle_producer_refreshes_its_token_and_still_produces(oauth_bootstrap: str, topic_name: str):
    signer = CountingSigner("producer")
    producer = Producer(
        {"bootstrap.servers": oauth_bootstrap, "acks": "all", "enable.idempotence": True, **client_security(signer)}
    )
    assert deliver(producer, topic_name, b"before") == [None]
    before = signer.calls
    assert before >= 1
    # Idle: no produce, no poll, no flush, for more than three token lifetimes.
    wait_for_calls(signer, before + 3, limit_s=TOKEN_SECONDS * 10)
    assert signer.calls >= before + 3, f"the token was refreshed {signer.calls - before} times while idle"
    assert deliver(producer, topic_name, b"after") == [None]


def test_an_idle_consumer_refreshes_its_token_and_still_reads(oauth_bootstrap: str, topic_name: str):
    setup = Producer({"bootstrap.servers": oauth_bootstrap, **client_security(CountingSigner("setup"))})
    assert deliver(setup, topic_name, b"first") == [None]
    signer = CountingSigner("consumer")
    consumer = Consumer(
        {
            "bootstrap.servers": oauth_bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **client_security(signer),
        }
    )
    try:
        # From the first offset: no committed offset to ask the group coordinator for, which a fresh broker may
        # still be loading while the consumer's session is re-authenticated.
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        assert next_record(consumer) == b"first"
        before = signer.calls
        wait_for_calls(signer, before + 3, limit_s=TOKEN_SECONDS * 10)
        assert signer.calls >= before + 3, f"the token was refreshed {signer.calls - before} times while idle"
        assert deliver(setup, topic_name, b"second") == [None]
        assert next_record(consumer) == b"second"
    finally:
        consumer.close()


def test_a_client_whose_token_is_not_refreshed_is_cut_off(oauth_bootstrap: str, topic_name: str):
    """The checks above mean something: when the refresh fails, the broker ends the session once the first token
    expires, and the idle client can no longer produce."""
    signer = CountingSigner("once")

    def first_only(region: str) -> tuple[str, int]:
        if signer.calls >= 1:
            signer.calls += 1
            raise RuntimeError("the signer is unavailable")
        return signer(region)

    producer = Producer(
        {"bootstrap.servers": oauth_bootstrap, "message.timeout.ms": 10000, **client_security(first_only)}
    )
    assert deliver(producer, topic_name, b"before") == [None]
    wait_for_calls(signer, 3, limit_s=TOKEN_SECONDS * 10)
    time.sleep(TOKEN_SECONDS)  # past the first token's expiry, whatever the refresh attempts' timing
    errors: list[Any] = []
    producer.produce(topic_name, value=b"after", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None, "a client with an expired token must be refused"
