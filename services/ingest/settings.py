"""The ingest service's settings, from `INGEST_*` environment variables (the container) or the `fitpipe ingest serve`
flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from core.names import EARLIEST_EVENT_DATE, TOPIC
from services.common import settings as common_settings
from services.common.metrics import MetricsEndpointSettings
from services.common.settings import KafkaClientSettings

ENV_PREFIX: Final = "INGEST_"
MIB: Final = 1024 * 1024


class IngestSettings(KafkaClientSettings, MetricsEndpointSettings):
    """Where to listen, where to produce, who may write, and the limits of one request. Environment: the upper-case
    name with the `INGEST_` prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1, description="Kafka bootstrap servers, host:port,...")
    topic: str = Field(TOPIC, min_length=1, description="topic the accepted records are produced to")
    partitions: int = Field(3, ge=1, le=1000, description="partitions of the topic when it is created")
    host: str = Field(
        "127.0.0.1", min_length=1, description="address the HTTP server binds to (0.0.0.0 in a container)"
    )
    port: int = Field(8080, ge=1, le=65535, description="port of the HTTP server")
    keys_file: Path = Field(
        Path("ingest-keys.json"), description="the API keys' store: each key's hash and the user ids it may write"
    )
    max_body_bytes: int = Field(
        4 * MIB, ge=1024, description="largest request body as sent (compressed or not); larger: 413"
    )
    max_decompressed_bytes: int = Field(
        16 * MIB, ge=1024, description="largest body once gunzipped; the decompression stops there: 413"
    )
    max_records: int = Field(5000, ge=1, le=1_000_000, description="most records in one request; more: 413")
    rate_per_client: float = Field(
        200.0, gt=0, description="requests per second a client may send on average; past it: 429 with Retry-After"
    )
    rate_burst: int = Field(400, ge=1, description="requests a client may send at once above its rate")
    ack_timeout_s: float = Field(
        10.0, gt=0, le=300, description="longest wait for Kafka to acknowledge a request's records; then 503"
    )
    retry_after_s: int = Field(5, ge=1, le=3600, description="the Retry-After of a 503 when Kafka is down or slow")
    idempotency_window_s: float = Field(
        24 * 3600.0, gt=0, description="how long a response is kept for a retry with the same Idempotency-Key"
    )
    idempotency_max_keys: int = Field(
        100_000, ge=1, description="responses kept for retries at most; the oldest are dropped first"
    )
    header_read_timeout_s: float = Field(
        5.0, gt=0, le=120, description="a client must send its request headers within this time (slow clients: cut)"
    )
    compression: Literal["lz4", "zstd", "gzip", "snappy", "none"] = Field(
        "lz4", description="Kafka message compression"
    )
    linger_ms: int = Field(
        20,
        ge=0,
        le=1000,
        description="how long librdkafka gathers the concurrent requests' records into one batch; longer costs each "
        "request that much latency and saves CPU per record",
    )
    earliest_event_date: dt.date = Field(
        EARLIEST_EVENT_DATE,
        description="records dated before this (YYYY-MM-DD) are refused, reason out_of_window (the consumer's rule)",
    )
    max_event_skew_s: float = Field(
        86_400.0,
        ge=0,
        description="records dated after the UTC date of now plus this many seconds are refused, reason "
        "out_of_window (the consumer's rule)",
    )
    log_requests: bool = Field(True, description="one log line per request (status, counts, latency; no values)")


def describe_error(error: ValidationError) -> str:
    """A validation error as one line naming the `INGEST_*` variables (or flags) to fix."""
    return common_settings.describe_error(error, ENV_PREFIX)
