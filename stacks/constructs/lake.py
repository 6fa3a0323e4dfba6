"""The lake bucket and the bucket that receives the server access logs of every bucket in the app."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import names
from stacks.defaults import bucket_props, kms_bucket_props, lifecycle_rule
from stacks.nag import acknowledge_compliance, acknowledge_single_region_bucket, skip_checkov

#: How long server access logs are kept.
ACCESS_LOG_RETENTION_DAYS = 365


class Lake(Construct):
    """`bucket` holds the raw and the curated tables' data; `access_logs` receives the buckets' access logs.

    The lake bucket is versioned: an object that is overwritten or deleted by mistake stays recoverable as a
    noncurrent version for `noncurrent_version_days`, then expires."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        destroy_data: bool,
        noncurrent_version_days: int,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)

        # The access-log bucket logs nowhere itself: logging it into itself would log every log delivery. It keeps
        # SSE-S3: S3 delivers server access logs only to a bucket encrypted with S3-managed keys.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            **bucket_props(
                destroy_data=destroy_data,
                lifecycle_rules=[lifecycle_rule("expire-access-logs", expire_after_days=ACCESS_LOG_RETENTION_DAYS)],
            ),
        )
        acknowledge_single_region_bucket(self.access_logs)
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "The access-log bucket is where every other bucket's access logs go; logging it into itself would log "
            "each log delivery, without end.",
        )
        acknowledge_compliance(
            self.access_logs,
            "S3DefaultEncryptionKMS",
            "S3 delivers server access logs only to a bucket whose default encryption is SSE-S3 (AES-256), not KMS.",
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **bucket_props(
                destroy_data=destroy_data,
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix="lake/",
                versioned=True,
                lifecycle_rules=[
                    lifecycle_rule(
                        "expire-noncurrent-versions-and-abort-incomplete-uploads",
                        noncurrent_expire_after_days=noncurrent_version_days,
                    )
                ],
                **kms_bucket_props(key),
            ),
        )
        acknowledge_single_region_bucket(self.bucket)
        # The raw table's data is written only from inside a VPC, through its S3 gateway endpoint
        # (the streaming stack's); a write from anywhere else is refused, whoever makes it. Deletes are not concerned,
        # so `cdk destroy` can still empty the bucket.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DataWritesOnlyThroughAVpcEndpoint",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{names.LAKE_DATA_PREFIX}*")],
                conditions={"Null": {"aws:SourceVpce": "true"}},
            )
        )
