"""The stateful stack: the lake and its access logs, the Glue catalog and crawler, and Athena."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from services.common import names
from stacks.config import PipelineConfig
from stacks.constructs.analytics import Analytics
from stacks.constructs.catalog import Catalog
from stacks.constructs.curated_table import CuratedTable
from stacks.constructs.lake import Lake


class DataStack(Stack):
    """What outlives the streaming host: the data, its catalog and the queries over it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, sql_dir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        self.lake = Lake(
            self,
            "Lake",
            destroy_data=config.destroy_data,
            noncurrent_version_days=config.lake_noncurrent_version_days,
        )
        self.catalog = Catalog(self, "Catalog", lake=self.lake.bucket, destroy_data=config.destroy_data)
        self.curated = CuratedTable(
            self,
            "Curated",
            lake=self.lake.bucket,
            database=self.catalog.database,
            retention_days=config.curated_retention_days,
        )
        self.analytics = Analytics(
            self,
            "Analytics",
            sql_dir=sql_dir,
            access_logs=self.lake.access_logs,
            query_cutoff_gb=config.query_cutoff_gb,
            destroy_data=config.destroy_data,
        )

        # Named exports, so the streaming stack's policy refers to the lake by a stable name.
        self.lake_bucket_name_export = f"{self.stack_name}-LakeBucketName"
        self.lake_bucket_arn_export = f"{self.stack_name}-LakeBucketArn"
        CfnOutput(
            self,
            "LakeBucketName",
            value=self.lake.bucket.bucket_name,
            description="The lake bucket",
            export_name=self.lake_bucket_name_export,
        )
        CfnOutput(
            self,
            "LakeBucketArn",
            value=self.lake.bucket.bucket_arn,
            description="The lake bucket's ARN",
            export_name=self.lake_bucket_arn_export,
        )
        CfnOutput(
            self,
            "LakeDataLocation",
            value=f"s3://{self.lake.bucket.bucket_name}/{names.LAKE_DATA_PREFIX}",
            description="Where the consumer lands the table's files, one dt=YYYY-MM-DD/ folder per day",
        )
        CfnOutput(
            self,
            "CuratedTableLocation",
            value=self.curated.location,
            description="The curated Iceberg table's data and metadata, written by the compactor",
        )
        CfnOutput(
            self,
            "AthenaWorkgroup",
            value=self.analytics.workgroup.ref,
            description="The Athena workgroup holding the named queries",
        )
