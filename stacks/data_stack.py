"""The stateful stack: the lake and its access logs, the Glue catalog and crawler, and Athena."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from core import names
from stacks.config import PipelineConfig
from stacks.constructs.analytics import Analytics
from stacks.constructs.audit import AuditTrail
from stacks.constructs.catalog import Catalog
from stacks.constructs.curated_table import CuratedTable
from stacks.constructs.lake import Lake
from stacks.defaults import removal_policy


class DataStack(Stack):
    """What outlives the streaming host: the data, its catalog and the queries over it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, sql_dir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        # The lake's key: the health records at rest (the lake, the Athena results) and the logs about them (the
        # crawler's, the audit trail). Kept with the data on `cdk destroy` unless the data may go.
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the fitness data lake: its objects, Athena's results, the crawler's logs.",
            enable_key_rotation=True,
            removal_policy=removal_policy(destroy_data=config.destroy_data),
        )
        self.lake = Lake(
            self,
            "Lake",
            destroy_data=config.destroy_data,
            noncurrent_version_days=config.lake_noncurrent_version_days,
            key=self.key,
        )
        self.catalog = Catalog(self, "Catalog", lake=self.lake.bucket, key=self.key)
        self.curated = CuratedTable(
            self,
            "Curated",
            lake=self.lake.bucket,
            database=self.catalog.database,
            retention_days=config.curated_retention_days,
            key=self.key,
        )
        self.analytics = Analytics(
            self,
            "Analytics",
            sql_dir=sql_dir,
            access_logs=self.lake.access_logs,
            query_cutoff_gb=config.query_cutoff_gb,
            destroy_data=config.destroy_data,
            key=self.key,
        )

        self.audit = None
        if config.audit_trail:
            self.audit = AuditTrail(
                self,
                "Audit",
                lake=self.lake.bucket,
                key=self.key,
                access_logs=self.lake.access_logs,
                destroy_data=config.destroy_data,
            )

        # Named exports, so the streaming stack's policy refers to the lake by a stable name.
        self.lake_bucket_name_export = f"{self.stack_name}-LakeBucketName"
        self.lake_bucket_arn_export = f"{self.stack_name}-LakeBucketArn"
        self.lake_key_arn_export = f"{self.stack_name}-LakeKeyArn"
        CfnOutput(
            self,
            "LakeKeyArn",
            value=self.key.key_arn,
            description="The KMS key of the lake's objects (readers of the lake need kms:Decrypt on it)",
            export_name=self.lake_key_arn_export,
        )
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
