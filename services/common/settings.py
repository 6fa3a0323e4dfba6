"""What the services' settings share: how they reach the brokers and who they are to them (plaintext or SASL/SCRAM
on one machine or inside the host, TLS or SASL over TLS across a network), and how a bad setting is reported."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings

#: The one SASL mechanism the brokers enable: salted challenge-response, the password never crosses the wire.
SASL_MECHANISM = "SCRAM-SHA-512"
#: Amazon MSK's IAM sign-in: an OAUTHBEARER token signed with the AWS credentials of the environment.
AWS_MSK_IAM = "AWS_MSK_IAM"

#: Makes a token for a region: (token, expiry in milliseconds since the epoch), as the MSK signer returns them.
TokenSigner = Callable[[str], tuple[str, int]]


def msk_iam_signer(region: str) -> tuple[str, int]:
    """An MSK IAM token signed with the credentials of the environment (the task role on Fargate)."""
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return token, int(expiry_ms)


def oauth_token_callback(region: str, signer: TokenSigner = msk_iam_signer) -> Callable[[str], tuple[str, float]]:
    """confluent-kafka's `oauth_cb`: librdkafka calls it for the first token and again before each one expires (on
    its background thread since confluent-kafka 2.13, so an idle client refreshes too). It returns the token and
    its expiry in seconds since the epoch."""

    def oauth_cb(_oauthbearer_config: str) -> tuple[str, float]:
        token, expiry_ms = signer(region)
        return token, expiry_ms / 1000

    return oauth_cb


class KafkaCredentialsError(ValueError):
    """The credentials' secret could not be read or does not hold a username and a password."""


def read_secret_credentials(secret_arn: str, region: str | None = None) -> tuple[str, str]:
    """(username, password) from a Secrets Manager secret whose value is `{"username": ..., "password": ...}`."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
        document = json.loads(value["SecretString"])
        return str(document["username"]), str(document["password"])
    except (BotoCoreError, ClientError) as exc:
        raise KafkaCredentialsError(f"could not read the Kafka credentials from {secret_arn}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise KafkaCredentialsError(f"{secret_arn} does not hold a JSON username and password") from exc


class KafkaClientSettings(BaseSettings):
    """Connection settings shared by the producer's and the consumer's settings (each with its own prefix)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="PLAINTEXT; SSL for a TLS listener; SASL_SSL (the AWS host's port 9092) or SASL_PLAINTEXT "
        "(`fitpipe kafka start --secure`, inside the host) to sign in with a SCRAM-SHA-512 user",
    )
    ssl_ca_location: Path | None = Field(
        None,
        description="with SSL or SASL_SSL: the PEM CA certificate that signed the brokers' (default: the system's CAs)",
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "AWS_MSK_IAM"] = Field(
        "SCRAM-SHA-512",
        description="with SASL_*: SCRAM-SHA-512 (a Kafka user and password) or AWS_MSK_IAM (Amazon MSK, SASL_SSL "
        "only: an OAUTHBEARER token signed with the AWS credentials of the environment)",
    )
    aws_region: str | None = Field(
        None, description="with AWS_MSK_IAM: the cluster's region (default: AWS_REGION or AWS_DEFAULT_REGION)"
    )
    sasl_username: str | None = Field(None, description="with SASL_*: the Kafka user this service signs in as")
    sasl_password: SecretStr | None = Field(None, description="with SASL_*: that user's password")
    sasl_secret_arn: str | None = Field(
        None,
        description="with SASL_*, instead of the username and password: a Secrets Manager secret holding both "
        "as JSON (read with the AWS credentials of the environment)",
    )

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaClientSettings:
        prefix = self.model_config.get("env_prefix", "")
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        sasl = self.security_protocol.startswith("SASL_")
        if self.ssl_ca_location is not None and not tls:
            raise ValueError(f"{prefix}SSL_CA_LOCATION is used only with SECURITY_PROTOCOL=SSL or SASL_SSL")
        if self.ssl_ca_location is not None and not self.ssl_ca_location.is_file():
            raise ValueError(f"{prefix}SSL_CA_LOCATION: no file {self.ssl_ca_location}")
        given = [n for n in ("sasl_username", "sasl_password", "sasl_secret_arn") if getattr(self, n) is not None]
        if self.sasl_mechanism == AWS_MSK_IAM:
            if self.security_protocol != "SASL_SSL":
                raise ValueError(f"{prefix}SASL_MECHANISM=AWS_MSK_IAM needs {prefix}SECURITY_PROTOCOL=SASL_SSL")
            if given:
                raise ValueError(f"{prefix}{given[0].upper()} is not used with {prefix}SASL_MECHANISM=AWS_MSK_IAM")
            if self.msk_region is None:
                raise ValueError(
                    f"SASL_MECHANISM=AWS_MSK_IAM needs {prefix}AWS_REGION, or AWS_REGION in the environment"
                )
            return self
        if self.aws_region is not None:
            raise ValueError(f"{prefix}AWS_REGION is used only with {prefix}SASL_MECHANISM=AWS_MSK_IAM")
        if given and not sasl:
            raise ValueError(
                f"{prefix}{given[0].upper()} is used only with SECURITY_PROTOCOL=SASL_SSL or SASL_PLAINTEXT"
            )
        if sasl:
            pair = self.sasl_username is not None and self.sasl_password is not None
            if self.sasl_secret_arn is not None and (self.sasl_username or self.sasl_password):
                raise ValueError(f"give {prefix}SASL_SECRET_ARN or {prefix}SASL_USERNAME and _PASSWORD, not both")
            if self.sasl_secret_arn is None and not pair:
                raise ValueError(
                    f"SECURITY_PROTOCOL={self.security_protocol} needs {prefix}SASL_USERNAME and {prefix}SASL_PASSWORD"
                    f", or {prefix}SASL_SECRET_ARN"
                )
        return self

    @property
    def msk_region(self) -> str | None:
        """The region whose MSK signs this client's tokens: the setting, else the environment's (as boto3 reads it)."""
        return self.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    @cached_property
    def _sasl_credentials(self) -> tuple[str, str]:
        if self.sasl_secret_arn is not None:
            return read_secret_credentials(self.sasl_secret_arn)
        assert self.sasl_username is not None and self.sasl_password is not None
        return self.sasl_username, self.sasl_password.get_secret_value()

    def kafka_security(self) -> dict[str, Any]:
        """The librdkafka settings for this connection, to merge into every client (consumer, producer, admin).
        With a secret's ARN, the secret is read once, on the first call. With AWS_MSK_IAM, librdkafka asks the
        `oauth_cb` for each token."""
        config: dict[str, Any] = {"security.protocol": self.security_protocol.lower()}
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.sasl_mechanism == AWS_MSK_IAM:
            assert self.msk_region is not None
            return config | {
                "sasl.mechanisms": "OAUTHBEARER",
                "oauth_cb": oauth_token_callback(self.msk_region, msk_iam_signer),
            }
        if self.security_protocol.startswith("SASL_"):
            username, password = self._sasl_credentials
            config |= {"sasl.mechanisms": SASL_MECHANISM, "sasl.username": username, "sasl.password": password}
        return config


def describe_error(error: ValidationError, env_prefix: str, flags: Mapping[str, str] | None = None) -> str:
    """A validation error as one line naming the environment variables to fix, or the flags (setting -> flag) that
    gave the bad values."""
    flags = flags or {}
    parts = []
    for item in error.errors():
        name = "_".join(str(p) for p in item["loc"] if isinstance(p, str))
        if name in flags:
            parts.append(f"{flags[name]}: {item['msg']}")
        elif name:
            parts.append(f"{env_prefix}{name.upper()}: {item['msg']}")
        else:  # a rule across settings names its variables itself
            parts.append(item["msg"].removeprefix("Value error, "))
    return "; ".join(parts)
