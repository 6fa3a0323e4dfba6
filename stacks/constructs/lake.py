"""The lake bucket and the bucket that receives the server access logs of every bucket in the app."""

from __future__ import annotations

from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.defaults import bucket_props, lifecycle_rule

#: How long server access logs are kept.
ACCESS_LOG_RETENTION_DAYS = 365


class Lake(Construct):
    """`bucket` holds the table's data (and the quarantine); `access_logs` receives the buckets' access logs.

    The lake bucket is versioned: an object that is overwritten or deleted by mistake stays recoverable as a
    noncurrent version for `noncurrent_version_days`, then expires."""

    def __init__(
        self, scope: Construct, construct_id: str, *, destroy_data: bool, noncurrent_version_days: int
    ) -> None:
        super().__init__(scope, construct_id)

        # The access-log bucket logs nowhere itself: logging it into itself would log every log delivery.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            **bucket_props(
                destroy_data=destroy_data,
                lifecycle_rules=[lifecycle_rule("expire-access-logs", expire_after_days=ACCESS_LOG_RETENTION_DAYS)],
            ),
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
            ),
        )
