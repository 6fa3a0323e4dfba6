"""The consumer's settings, read from the environment with the prefix `CONSUMER_` (the same in a container)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, TOPIC
from services.common.metrics import MetricsSettings
from services.common.settings import KafkaClientSettings

MIB = 1024 * 1024
ENV_PREFIX = "CONSUMER_"


class ConsumerSettings(KafkaClientSettings, MetricsSettings):
    """Where to read, where to land, and when to cut a file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = TOPIC
    group_id: str = CONSUMER_GROUP
    #: Static group membership: a restarted consumer with the same id takes its partitions back at once.
    group_instance_id: str | None = None
    dlq_topic: str = DEAD_LETTER_TOPIC

    sink: Literal["local", "s3"] = "local"
    lake_dir: Path = Path("lake")
    s3_bucket: str | None = None
    #: Any S3-compatible endpoint; AWS_ENDPOINT_URL is honoured when this is not set.
    s3_endpoint_url: str | None = None

    format: Literal["jsonl.gz", "jsonl", "parquet"] = "jsonl.gz"
    gzip_level: int = Field(3, ge=1, le=9)

    #: A partition's open file is written this many seconds after its first record, even when no record follows.
    flush_interval_s: float = Field(60.0, gt=0)
    max_records_per_file: int = Field(250_000, ge=1)
    #: Uncompressed bytes of JSON lines per batch; a file never holds more.
    max_bytes_per_file: int = Field(64 * MIB, ge=1024)
    #: All partitions' open batches together; over it, the largest batch is written early.
    max_buffered_bytes: int = Field(96 * MIB, ge=1024)
    #: librdkafka's prefetch queue, per consumer, in KiB.
    queued_max_kbytes: int = Field(16 * 1024, ge=1024)

    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    log_interval_s: float = Field(10.0, gt=0)
    #: One log line per batch landed (otherwise only the periodic progress lines).
    log_batches: bool = False
    #: librdkafka's max.poll.interval.ms; the consumer keeps polling while it retries, so this only bounds a stall.
    max_poll_interval_ms: int = Field(600_000, ge=10_000)
    session_timeout_ms: int = Field(45_000, ge=6_000)

    @model_validator(mode="after")
    def _check_sink(self) -> ConsumerSettings:
        if self.sink == "s3" and not self.s3_bucket:
            raise ValueError("CONSUMER_S3_BUCKET is required when CONSUMER_SINK=s3")
        if self.s3_endpoint_url is None and os.environ.get("AWS_ENDPOINT_URL"):
            self.s3_endpoint_url = os.environ["AWS_ENDPOINT_URL"]
        return self
