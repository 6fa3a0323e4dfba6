"""Amazon MSK's IAM sign-in: the shared settings give every client SASL_SSL with OAUTHBEARER and an `oauth_cb` that
signs a token for the cluster's region and returns it with its expiry in seconds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common import settings as common
from services.common.settings import describe_error, oauth_token_callback
from services.consumer import ConsumerSettings
from services.producer.settings import ProducerSettings


def test_oauth_cb_signs_for_the_region_and_returns_the_expiry_in_seconds():
    asked: list[str] = []

    def signer(region: str) -> tuple[str, int]:
        asked.append(region)
        return f"token-{len(asked)}", 1_700_000_123_456

    callback = oauth_token_callback("eu-west-1", signer)
    assert callback("ignored config") == ("token-1", 1_700_000_123.456)
    assert callback("") == ("token-2", 1_700_000_123.456), "each call signs a fresh token"
    assert asked == ["eu-west-1", "eu-west-1"]


def test_aws_msk_iam_gives_oauthbearer_over_tls_with_the_callback(monkeypatch: pytest.MonkeyPatch):
    signed: list[str] = []
    monkeypatch.setattr(common, "msk_iam_signer", lambda region: (signed.append(region) or "t", 2_000_000_000_000))
    settings = ProducerSettings(security_protocol="SASL_SSL", sasl_mechanism="AWS_MSK_IAM", aws_region="us-east-2")
    security = settings.kafka_security()
    assert {k: v for k, v in security.items() if k != "oauth_cb"} == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "OAUTHBEARER",
    }
    assert security["oauth_cb"]("") == ("t", 2_000_000_000.0)
    assert signed == ["us-east-2"]


def test_the_region_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONSUMER_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CONSUMER_SASL_MECHANISM", "AWS_MSK_IAM")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert ConsumerSettings().msk_region == "ap-southeast-2"
    monkeypatch.setenv("CONSUMER_AWS_REGION", "eu-central-1")
    assert ConsumerSettings().msk_region == "eu-central-1", "the setting wins over the environment"


def test_the_real_signer_is_wired_by_default():
    settings = ProducerSettings(security_protocol="SASL_SSL", sasl_mechanism="AWS_MSK_IAM", aws_region="us-east-1")
    callback = settings.kafka_security()["oauth_cb"]
    assert callback.__closure__ is not None
    assert common.msk_iam_signer in [cell.cell_contents for cell in callback.__closure__]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "AWS_MSK_IAM", "aws_region": "us-east-1"},
            "AWS_MSK_IAM needs PRODUCER_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "AWS_MSK_IAM",
                "aws_region": "us-east-1",
                "sasl_username": "u",
            },
            "PRODUCER_SASL_USERNAME is not used with PRODUCER_SASL_MECHANISM=AWS_MSK_IAM",
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "AWS_MSK_IAM"}, "needs PRODUCER_AWS_REGION"),
        ({"aws_region": "us-east-1"}, "PRODUCER_AWS_REGION is used only with PRODUCER_SASL_MECHANISM=AWS_MSK_IAM"),
    ],
)
def test_inconsistent_iam_settings_are_one_line(monkeypatch: pytest.MonkeyPatch, given: dict, message: str):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ValidationError) as error:
        ProducerSettings(**given)
    line = describe_error(error.value, "PRODUCER_")
    assert message in line and "\n" not in line
