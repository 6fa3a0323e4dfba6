"""The consumer's settings, from `CONSUMER_*` environment variables (the container) or the `fitpipe consume` flags."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, DEFAULT_LAKE_FORMAT, EARLIEST_EVENT_DATE, TOPIC, LakeFormat
from services.common import settings as common_settings
from services.common.metrics import MetricsSettings
from services.common.settings import KafkaClientSettings

MIB: Final = 1024 * 1024
ENV_PREFIX: Final = "CONSUMER_"


class ConsumerSettings(KafkaClientSettings, MetricsSettings):
    """Where to read, where to land, and when to cut a file. Environment: the upper-case name with the `CONSUMER_`
    prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1, description="Kafka bootstrap servers, host:port,...")
    topic: str = Field(TOPIC, min_length=1, description="topic to read")
    group_id: str = Field(CONSUMER_GROUP, min_length=1, description="consumer group whose offsets say what is landed")
    group_instance_id: str | None = Field(
        None,
        description="static group membership: a restarted consumer with the same id takes its partitions back at once",
    )
    dlq_topic: str = Field(DEAD_LETTER_TOPIC, min_length=1, description="dead-letter topic for records that are bad")

    sink: Literal["local", "s3"] = Field("local", description="local: a folder (LAKE_DIR); s3: a bucket (S3_BUCKET)")
    lake_dir: Path = Field(Path("lake"), description="the lake's root folder, with the local sink")
    s3_bucket: str | None = Field(None, description="the lake's bucket, with the s3 sink")
    s3_endpoint_url: str | None = Field(
        None, description="any S3-compatible endpoint (default: AWS_ENDPOINT_URL when it is set, else AWS)"
    )

    format: LakeFormat = Field(DEFAULT_LAKE_FORMAT, description="file format of the lake's objects")
    gzip_level: int = Field(3, ge=1, le=9, description="gzip compression level of jsonl.gz files")

    flush_interval_s: float = Field(
        60.0, gt=0, description="a partition's open file is written this many seconds after its first record"
    )
    max_records_per_file: int = Field(250_000, ge=1, description="records per file at most")
    max_bytes_per_file: int = Field(
        64 * MIB, ge=1024, description="uncompressed bytes of JSON lines per batch; a file never holds more"
    )
    max_buffered_bytes: int = Field(
        96 * MIB, ge=1024, description="all partitions' open batches together; over it, the largest is written early"
    )
    queued_max_kbytes: int = Field(16 * 1024, ge=1024, description="librdkafka's prefetch queue, per consumer, in KiB")

    earliest_event_date: dt.date = Field(
        EARLIEST_EVENT_DATE,
        description="records dated before this (YYYY-MM-DD) go to the dead-letter topic, reason out_of_window",
    )
    max_event_skew_s: float = Field(
        86_400.0,
        ge=0,
        description="records dated after the UTC date of the message's Kafka timestamp plus this many seconds go to"
        " the dead-letter topic, reason out_of_window",
    )

    retry_initial_s: float = Field(0.5, gt=0, description="first wait before a failed write or commit is retried")
    retry_max_s: float = Field(30.0, gt=0, description="longest wait between retries (the waits double up to it)")
    log_interval_s: float = Field(10.0, gt=0, description="seconds between progress log lines")
    log_batches: bool = Field(False, description="one log line per batch landed, besides the progress lines")
    max_poll_interval_ms: int = Field(
        600_000,
        ge=10_000,
        description="librdkafka's max.poll.interval.ms; the consumer polls while it retries, so this bounds a stall",
    )
    session_timeout_ms: int = Field(45_000, ge=6_000, description="librdkafka's session.timeout.ms")

    @model_validator(mode="after")
    def _check_sink(self) -> ConsumerSettings:
        if self.sink == "s3" and not self.s3_bucket:
            raise ValueError(f"{ENV_PREFIX}S3_BUCKET is required when {ENV_PREFIX}SINK=s3")
        if self.s3_endpoint_url is None and os.environ.get("AWS_ENDPOINT_URL"):
            self.s3_endpoint_url = os.environ["AWS_ENDPOINT_URL"]
        return self


def describe_error(error: ValidationError) -> str:
    """A validation error as one line naming the `CONSUMER_*` variables to fix."""
    return common_settings.describe_error(error, ENV_PREFIX)
