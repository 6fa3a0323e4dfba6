"""The producer's settings, from `PRODUCER_*` environment variables (the container) or the `fitpipe produce` flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from core.names import TOPIC
from services.common import settings as common_settings
from services.common.metrics import MetricsSettings
from services.common.settings import KafkaClientSettings
from services.producer.sim_params import FITABASE_START

#: Backfills start on the first day of the Fitabase export unless told otherwise, so that simulated and replayed
#: data cover the same calendar.
DEFAULT_BACKFILL_START: Final = FITABASE_START
ENV_PREFIX: Final = "PRODUCER_"
#: The message compressions librdkafka offers (its `compression.type`).
Compression = Literal["lz4", "zstd", "gzip", "snappy", "none"]
COMPRESSIONS: Final[tuple[Compression, ...]] = get_args(Compression)


class ProducerSettings(KafkaClientSettings, MetricsSettings):
    """Every setting of a producer run. Environment: the upper-case name with the `PRODUCER_` prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1, description="Kafka bootstrap servers, host:port,...")
    topic: str = Field(TOPIC, min_length=1, description="topic to produce to (created if missing)")
    partitions: int = Field(3, ge=1, le=1000, description="partitions of the topic when it is created")
    users: int = Field(33, ge=1, le=100_000, description="number of simulated users (ignored with USER_IDS)")
    user_ids: Annotated[list[int] | None, NoDecode] = Field(None, description="explicit user ids, comma separated")
    seed: int = Field(42, description="the same seed always gives the same data")
    start_date: dt.date | None = Field(
        None,
        description=f"first simulated day, YYYY-MM-DD (default: {DEFAULT_BACKFILL_START} in backfill, today in live "
        "mode)",
    )
    days: int = Field(7, ge=1, le=3660, description="number of simulated days")
    mode: Literal["backfill", "live"] = Field("backfill", description="backfill: as fast as possible; live: paced")
    speed: float = Field(1.0, gt=0, description="live mode: event minutes per wall-clock minute")
    replay_dir: Path | None = Field(None, description="replay this Fitabase export folder instead of simulating")
    compression: Compression = Field("lz4", description="message compression")
    progress: bool | None = Field(None, description="progress bar (default: when stderr is a terminal)")

    @field_validator("user_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            value = [p for p in parts if p]
            return value or None
        return value

    @field_validator("user_ids")
    @classmethod
    def _positive_unique(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(v < 1 for v in value):
            raise ValueError("user ids must be positive integers")
        if len(set(value)) != len(value):
            raise ValueError("user ids must be distinct")
        return value

    @property
    def user_count(self) -> int:
        return len(self.user_ids) if self.user_ids else self.users


def describe_error(error: ValidationError) -> str:
    """A validation error as one line naming the `PRODUCER_*` variables (or flags) to fix."""
    return common_settings.describe_error(error, ENV_PREFIX)


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for each setting: the README's table comes from here."""
    rows = []
    for name, info in ProducerSettings.model_fields.items():
        default = info.default
        shown = "" if default is None else (default if isinstance(default, str) else str(default))
        rows.append((f"{ENV_PREFIX}{name.upper()}", shown, info.description or ""))
    return rows
