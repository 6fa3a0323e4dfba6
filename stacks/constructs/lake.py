"""The lake bucket and the bucket that receives the server access logs of every bucket in the app."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import names
from stacks.defaults import bucket_props, kms_bucket_props, lifecycle_rule, object_lock_props
from stacks.nag import acknowledge_compliance, acknowledge_single_region_bucket, skip_checkov

#: How long server access logs are kept.
ACCESS_LOG_RETENTION_DAYS = 365


class Lake(Construct):
    """`bucket` holds the raw and the curated tables' data; `access_logs` receives the buckets' access logs.

    The lake bucket is versioned: an object that is overwritten or deleted by mistake stays recoverable as a
    noncurrent version for `noncurrent_version_days`, then expires. With `object_lock_days`, S3 Object Lock in
    governance mode keeps every version for that many days from its creation: no delete of a version (nor the
    lifecycle's expiry) takes effect before, unless a principal with `s3:BypassGovernanceRetention` asks for it.

    Its policy keeps the raw zone append-only whoever writes: S3 itself refuses a put under the raw prefix that does
    not carry `If-None-Match` (so an existing object is never replaced), a write under either table's prefix that
    does not come through a VPC endpoint (but the curated table's optimizers), any write outside the two prefixes,
    and any object encrypted otherwise than with the lake's key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        destroy_data: bool,
        noncurrent_version_days: int,
        key: kms.IKey,
        object_lock_days: int | None = None,
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
        acknowledge_single_region_bucket(
            self.access_logs,
            unversioned="S3's log delivery writes each log object once, under a name of its own (time and a random "
            "suffix), and nothing else may write here; versioning would keep no older bytes, only cost. The logs "
            "expire after a year.",
        )
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
                **object_lock_props(object_lock_days),
            ),
        )
        acknowledge_single_region_bucket(self.bucket)
        self._append_only_raw_zone(key)

    def _append_only_raw_zone(self, key: kms.IKey) -> None:
        """The lake's own rules on writes, for every principal. Deletes are not concerned, so `cdk destroy` can still
        empty the bucket (the writers' roles may not delete)."""
        raw = self.bucket.arn_for_objects(f"{names.LAKE_DATA_PREFIX}*")
        deny_puts = {"effect": iam.Effect.DENY, "principals": [iam.AnyPrincipal()], "actions": ["s3:PutObject"]}
        # The raw table's data is written only from inside a VPC, through its S3 gateway endpoint (the streaming
        # stack's, whose id the writers' own policies require); a write from anywhere else is refused.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DataWritesOnlyThroughAVpcEndpoint",
                resources=[raw],
                conditions={"Null": {"aws:SourceVpce": "true"}},
                **deny_puts,
            )
        )
        # An object of the raw zone is created, never replaced: a PutObject or a CompleteMultipartUpload (both are
        # s3:PutObject to IAM, and the only object-creating ones) without If-None-Match is refused, as AWS's
        # "Enforce conditional writes" guide shows. CreateMultipartUpload and UploadPart take no conditional header,
        # so s3:ObjectCreationOperation (false for them) exempts them. CopyObject into the prefix is refused too.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RawObjectsAreCreatedNeverReplaced",
                resources=[raw],
                conditions={"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
                **deny_puts,
            )
        )
        # Nothing of the app writes outside the two tables' prefixes.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="NoWritesOutsideTheTables",
                not_resources=[
                    self.bucket.arn_for_objects(f"{prefix}*")
                    for prefix in (names.LAKE_DATA_PREFIX, names.LAKE_CURATED_PREFIX)
                ],
                **deny_puts,
            )
        )
        # Every object under the lake's key: a request that names another key, or another kind of encryption, is
        # refused; one that names none gets the bucket's default, the lake's key (hence IfExists).
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheLakesKey",
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key.key_arn}},
                **deny_puts,
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyKmsEncryption",
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                **deny_puts,
            )
        )
