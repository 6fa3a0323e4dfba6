"""Who read or wrote the lake: a CloudTrail trail of the lake bucket's S3 data events, in a log bucket of its own."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.defaults import bucket_props, lifecycle_rule
from stacks.nag import acknowledge_compliance, acknowledge_single_region_bucket, skip_checkov

#: How long the trail's log files are kept.
TRAIL_RETENTION_DAYS = 2 * 365


class AuditTrail(Construct):
    """`trail` records every object-level read and write of `lake` (S3 data events) into `bucket`; the log files
    are encrypted with `key` and come with CloudTrail's signed digest files (log file validation)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: s3.IBucket,
        key: kms.Key,
        access_logs: s3.IBucket,
        destroy_data: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **bucket_props(
                destroy_data=destroy_data,
                server_access_logs_bucket=access_logs,
                server_access_logs_prefix="audit-trail/",
                lifecycle_rules=[lifecycle_rule("expire-trail-logs", expire_after_days=TRAIL_RETENTION_DAYS)],
            ),
        )
        acknowledge_single_region_bucket(self.bucket)
        acknowledge_compliance(
            self.bucket,
            "S3DefaultEncryptionKMS",
            "CloudTrail encrypts each log file with the lake's KMS key itself (the trail's KMSKeyId); the bucket's "
            "default covers only the digest files, which CloudTrail writes with SSE-S3 and which hold hashes and "
            "signatures, no data.",
        )
        trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name="*")
        # CloudTrail may encrypt this account's trails' log files with the key, and nothing else; readers of the
        # log files decrypt them with IAM permissions of their own (the key policy lets the account grant them).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsThisAccountsTrails",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesTheKey",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=key,
            enable_file_validation=True,
            # Data events of the lake only: management events are in the account's own trail, if it has one.
            include_global_service_events=False,
            is_multi_region_trail=False,
            management_events=cloudtrail.ReadWriteType.NONE,
        )
        acknowledge_compliance(
            self.trail,
            "CloudTrailCloudWatchLogsEnabled",
            "The trail's record is its validated log files in S3, queried when an access is in question; its data "
            "events (every read of the lake) would cost as much again in CloudWatch Logs with no alarm to feed.",
        )
        skip_checkov(
            self.trail,
            "CKV_AWS_67",
            "This trail records the lake bucket's data events, which happen in the bucket's one region; trails of "
            "every region's management events are the account's, not this app's.",
        )
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=lake)],
            read_write_type=cloudtrail.ReadWriteType.ALL,
            include_management_events=False,
        )
