"""The shared Kafka settings: which combinations of protocol, CA and credentials are accepted, and what librdkafka
gets from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.kafka_access import USERS
from services.common.kafka_admin import acl_bindings
from services.common.settings import describe_error
from services.consumer import ConsumerSettings
from services.producer.settings import ProducerSettings


def test_sasl_settings_become_scram_sha_512(tmp_path: Path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = ProducerSettings(
        security_protocol="SASL_SSL", ssl_ca_location=ca, sasl_username="producer", sasl_password="s3cret"
    )
    assert settings.kafka_security() == {
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": str(ca),
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "producer",
        "sasl.password": "s3cret",
    }
    assert "s3cret" not in repr(settings), "the password is a secret: never printed with the settings"


def test_the_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONSUMER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CONSUMER_SASL_USERNAME", "consumer")
    monkeypatch.setenv("CONSUMER_SASL_PASSWORD", "pw")
    assert ConsumerSettings().kafka_security()["sasl.username"] == "consumer"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "SASL_SSL needs PRODUCER_SASL_USERNAME and PRODUCER_SASL_PASSWORD"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "producer"}, "needs PRODUCER_SASL_USERNAME"),
        ({"sasl_username": "producer", "sasl_password": "pw"}, "PRODUCER_SASL_USERNAME is used only with"),
        ({"security_protocol": "SSL", "sasl_secret_arn": "arn:aws:secretsmanager:x"}, "SASL_SECRET_ARN is used only"),
        (
            {"security_protocol": "SASL_SSL", "sasl_secret_arn": "arn", "sasl_username": "u", "sasl_password": "p"},
            "not both",
        ),
    ],
)
def test_inconsistent_security_is_one_line_naming_the_variables(given: dict[str, str], message: str):
    with pytest.raises(ValidationError) as error:
        ProducerSettings(**given)
    line = describe_error(error.value, "PRODUCER_")
    assert message in line and "\n" not in line


def test_an_unreadable_secret_is_one_error_naming_it(monkeypatch: pytest.MonkeyPatch):
    from services.common.settings import KafkaCredentialsError

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing answers
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:producer"
    settings = ProducerSettings(security_protocol="SASL_SSL", sasl_secret_arn=arn)
    with pytest.raises(KafkaCredentialsError, match=f"could not read the Kafka credentials from {arn}"):
        settings.kafka_security()


def test_the_acls_name_only_literal_resources_of_known_users():
    bindings = acl_bindings("t", "t.dlq", "g")
    assert {b.principal.removeprefix("User:") for b in bindings} < set(USERS)
    assert {b.resource_pattern_type.name for b in bindings} == {"LITERAL"}
    assert {b.permission_type.name for b in bindings} == {"ALLOW"}
    assert "*" not in {b.name for b in bindings}
