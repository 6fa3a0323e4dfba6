"""Who read or wrote the lake or the query results: a CloudTrail trail of both buckets' S3 data events, in a
versioned, Object-Locked log bucket of its own."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import AUDIT_LOG_DAYS
from stacks.defaults import bucket_props, lifecycle_rule, object_lock_props
from stacks.nag import acknowledge_compliance, acknowledge_single_region_bucket, skip_checkov

#: How long the trail's log files are kept.
TRAIL_RETENTION_DAYS = AUDIT_LOG_DAYS
#: A version the expiry (or a delete) made noncurrent goes this long after, once its lock allows.
NONCURRENT_TRAIL_LOG_DAYS = 1


class AuditTrail(Construct):
    """`trail` records every object-level read and write of `buckets` (the lake and the Athena results: S3 data
    events) into `bucket`; the log files are encrypted with `key` and come with CloudTrail's signed digest files (log
    file validation). The log bucket is versioned and, with `lock_days`, Object-Locked in governance mode: no log
    file can be deleted or overwritten for that many days. CloudTrail may write into it for this trail only
    (`aws:SourceArn`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        buckets: Sequence[s3.IBucket],
        key: kms.Key,
        access_logs: s3.IBucket,
        destroy_data: bool,
        lock_days: int | None,
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
                versioned=True,
                lifecycle_rules=[
                    lifecycle_rule(
                        "expire-trail-logs",
                        expire_after_days=TRAIL_RETENTION_DAYS,
                        noncurrent_expire_after_days=NONCURRENT_TRAIL_LOG_DAYS,
                    )
                ],
                **object_lock_props(lock_days),
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
        # The trail's name is fixed, so its ARN is known before it exists: the bucket's and the key's grants to
        # CloudTrail name this one trail (aws:SourceArn) without a dependency cycle.
        trail_name = f"{stack.stack_name}-audit"
        trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=trail_name)
        this_trail = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID, "aws:SourceArn": trail_arn}}
        cloudtrail_principal = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailChecksTheBucketAcl",
                principals=[cloudtrail_principal],
                actions=["s3:GetBucketAcl"],
                resources=[self.bucket.bucket_arn],
                conditions=this_trail,
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailWritesThisTrailsLogs",
                principals=[cloudtrail_principal],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"AWSLogs/{Aws.ACCOUNT_ID}/*")],
                conditions={
                    "StringEquals": {
                        **this_trail["StringEquals"],
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    }
                },
            )
        )
        # CloudTrail may encrypt this trail's log files with the key, and nothing else; readers of the log files
        # decrypt them with IAM permissions of their own (the key policy lets the account grant them).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsThisTrail",
                principals=[cloudtrail_principal],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn},
                    **this_trail,
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesTheKey",
                principals=[cloudtrail_principal],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions=this_trail,
            )
        )
        # The L1 trail: CDK's Trail construct grants CloudTrail the bucket without aws:SourceArn (it adds one only
        # for organization trails), and its grants cannot be narrowed afterwards.
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=trail_name,
            is_logging=True,
            s3_bucket_name=self.bucket.bucket_name,
            kms_key_id=key.key_arn,
            enable_log_file_validation=True,
            # Data events of the lake and the results only: management events are in the account's own trail, if
            # it has one.
            include_global_service_events=False,
            is_multi_region_trail=False,
            event_selectors=[
                cloudtrail.CfnTrail.EventSelectorProperty(
                    data_resources=[
                        cloudtrail.CfnTrail.DataResourceProperty(
                            type="AWS::S3::Object", values=[bucket.arn_for_objects("") for bucket in buckets]
                        )
                    ],
                    include_management_events=False,
                    read_write_type="All",
                )
            ],
        )
        assert self.bucket.policy is not None
        # CloudTrail checks its grants when the trail is created.
        self.trail.node.add_dependency(self.bucket.policy)
        acknowledge_compliance(
            self.trail,
            "CloudTrailCloudWatchLogsEnabled",
            "The trail's record is its validated log files in S3, queried when an access is in question; its data "
            "events (every read of the lake and of the query results) would cost as much again in CloudWatch Logs "
            "with no alarm to feed.",
        )
        skip_checkov(
            self.trail,
            "CKV_AWS_67",
            "This trail records the data events of the lake and results buckets, which happen in their one region; "
            "trails of every region's management events are the account's, not this app's.",
        )
