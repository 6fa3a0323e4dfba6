"""What the services' settings share: how they reach the brokers (plaintext on one machine or inside the host, TLS
across a network), and how a bad setting is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings


class KafkaClientSettings(BaseSettings):
    """Connection settings shared by the producer's and the consumer's settings (each with its own prefix)."""

    security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, or SSL for a TLS listener (the AWS host's port 9092)"
    )
    ssl_ca_location: Path | None = Field(
        None, description="with SSL: the PEM CA certificate that signed the brokers' (default: the system's CAs)"
    )

    @model_validator(mode="after")
    def _ca_needs_ssl(self) -> KafkaClientSettings:
        if self.ssl_ca_location is not None and self.security_protocol != "SSL":
            raise ValueError("SSL_CA_LOCATION is used only with SECURITY_PROTOCOL=SSL")
        if self.ssl_ca_location is not None and not self.ssl_ca_location.is_file():
            raise ValueError(f"SSL_CA_LOCATION: no file {self.ssl_ca_location}")
        return self

    def kafka_security(self) -> dict[str, str]:
        """The librdkafka settings for this connection, to merge into every client (consumer, producer, admin)."""
        config = {"security.protocol": self.security_protocol.lower()}
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        return config


def describe_error(error: ValidationError, env_prefix: str) -> str:
    """A validation error as one line naming the environment variables (or flags) to fix."""
    parts = []
    for item in error.errors():
        name = "_".join(str(p) for p in item["loc"] if isinstance(p, str))
        if name:
            parts.append(f"{env_prefix}{name.upper()}: {item['msg']}")
        else:  # a rule across settings names its variables itself
            parts.append(item["msg"].removeprefix("Value error, "))
    return "; ".join(parts)
