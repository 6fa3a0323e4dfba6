"""The compactor's settings, read from the environment with the prefix `COMPACTOR_` (the same in a container)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.metrics import MetricsEndpointSettings

MIB = 1024 * 1024
ENV_PREFIX = "COMPACTOR_"


class CompactorSettings(MetricsEndpointSettings):
    """Where the raw zone and the curated table live, how long replaced files are kept, how often it runs, and
    its `/metrics` endpoint."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    catalog: Literal["sql", "glue"] = Field(
        "sql", description="sql: a SQLite catalog in the lake folder; glue: the AWS Glue Data Catalog (lake in S3)"
    )
    lake_dir: Path = Field(Path("lake"), description="with the sql catalog: the lake folder (raw zone, table, catalog)")
    s3_bucket: str | None = Field(None, description="with the glue catalog: the lake bucket")
    #: Any S3-compatible endpoint; AWS_ENDPOINT_URL is honoured when this is not set.
    s3_endpoint_url: str | None = None
    #: Any Glue-compatible endpoint (a test's moto server); AWS_ENDPOINT_URL is honoured when this is not set.
    glue_endpoint_url: str | None = None
    region: str | None = Field(None, description="the AWS region (default: AWS_REGION or AWS_DEFAULT_REGION)")

    #: A day's data file is cut at this many bytes (Iceberg's write.target-file-size-bytes).
    target_file_bytes: int = Field(128 * MIB, ge=MIB)
    #: Snapshots older than this are expired, and files no snapshot references are removed once this old.
    retention_hours: float = Field(24.0, gt=0)
    #: Expire snapshots and remove orphan files after compacting. Off where Glue's table optimizers do that work.
    maintenance: bool = True
    #: Raw objects read at once (threads; reading S3 is latency-bound).
    read_threads: int = Field(16, ge=1, le=256)
    interval_s: float | None = Field(
        None,
        gt=0,
        description="keep running: start the next run this many seconds after a run ends (default: one run, then exit)",
    )

    @model_validator(mode="after")
    def _check_catalog(self) -> CompactorSettings:
        if self.catalog == "glue" and not self.s3_bucket:
            raise ValueError("COMPACTOR_S3_BUCKET is required when COMPACTOR_CATALOG=glue")
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            self.s3_endpoint_url = self.s3_endpoint_url or endpoint
            self.glue_endpoint_url = self.glue_endpoint_url or endpoint
        self.region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return self
