"""The stateful stack: the lake and its access logs, the Glue catalog and crawler, and Athena."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import names
from stacks.config import PipelineConfig
from stacks.constructs.analytics import Analytics
from stacks.constructs.audit import AuditTrail
from stacks.constructs.catalog import Catalog
from stacks.constructs.curated_table import CuratedTable
from stacks.constructs.lake import Lake
from stacks.defaults import removal_policy


@dataclass(frozen=True)
class LakeExports:
    """The names the data stack exports the lake under, so the streaming stack refers to it by a stable name."""

    bucket_name: str
    bucket_arn: str
    key_arn: str

    def bucket(self, scope: Construct) -> s3.IBucket:
        """The lake bucket, imported into `scope` (id `Lake`)."""
        return s3.Bucket.from_bucket_attributes(
            scope, "Lake", bucket_name=Fn.import_value(self.bucket_name), bucket_arn=Fn.import_value(self.bucket_arn)
        )

    def key(self) -> str:
        """The ARN of the lake's KMS key."""
        return Fn.import_value(self.key_arn)


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
            object_lock_days=config.lake_object_lock_days if config.lake_object_lock else None,
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
            duckdb_workgroup=config.duckdb_workgroup,
            destroy_data=config.destroy_data,
            key=self.key,
        )

        self.audit = None
        if config.audit_trail:
            self.audit = AuditTrail(
                self,
                "Audit",
                buckets=(self.lake.bucket, self.analytics.results_bucket),
                key=self.key,
                access_logs=self.lake.access_logs,
                destroy_data=config.destroy_data,
                lock_days=config.audit_lock,
            )

        # Named exports, so the streaming stack's policy refers to the lake by a stable name.
        self.lake_exports = LakeExports(
            bucket_name=f"{self.stack_name}-LakeBucketName",
            bucket_arn=f"{self.stack_name}-LakeBucketArn",
            key_arn=f"{self.stack_name}-LakeKeyArn",
        )
        CfnOutput(
            self,
            "LakeKeyArn",
            value=self.key.key_arn,
            description="The KMS key of the lake's objects (readers of the lake need kms:Decrypt on it)",
            export_name=self.lake_exports.key_arn,
        )
        CfnOutput(
            self,
            "LakeBucketName",
            value=self.lake.bucket.bucket_name,
            description="The lake bucket",
            export_name=self.lake_exports.bucket_name,
        )
        CfnOutput(
            self,
            "LakeBucketArn",
            value=self.lake.bucket.bucket_arn,
            description="The lake bucket's ARN",
            export_name=self.lake_exports.bucket_arn,
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
