"""Secure defaults, in one place: every bucket and the host start from these and override only what they must."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

#: Uploads that never complete still cost storage; they are aborted after this many days.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


def removal_policy(*, destroy_data: bool) -> RemovalPolicy:
    """What `cdk destroy` does to a stateful resource: delete it only when the deployment says its data may go."""
    return RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN


def logs_key(stack: Stack, description: str, *, destroy_data: bool) -> kms.Key:
    """The stack's KMS key (id `Key`), rotated yearly, which CloudWatch Logs may use only for this account's log groups
    in this region; kept on `cdk destroy` unless `destroy_data`."""
    key = kms.Key(
        stack,
        "Key",
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy(destroy_data=destroy_data),
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key


def bucket_props(*, destroy_data: bool, **overrides: Any) -> dict[str, Any]:
    """Encrypted, TLS-only, private, owner-enforced; kept on `cdk destroy` unless `destroy_data`."""
    props: dict[str, Any] = {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "versioned": False,
        "removal_policy": removal_policy(destroy_data=destroy_data),
        # Emptying a bucket on delete needs a custom-resource Lambda; it exists only when data is meant to go.
        "auto_delete_objects": destroy_data,
    }
    props.update(overrides)
    return props


def kms_bucket_props(key: kms.IKey) -> dict[str, Any]:
    """Overrides for a bucket of health data: SSE-KMS with the project's key, and an S3 bucket key, so S3 asks KMS
    for a data key per bucket and period rather than per object (far fewer KMS requests, far lower cost)."""
    return {"encryption": s3.BucketEncryption.KMS, "encryption_key": key, "bucket_key_enabled": True}


def lifecycle_rule(
    rule_id: str, *, expire_after_days: int | None = None, noncurrent_expire_after_days: int | None = None
) -> s3.LifecycleRule:
    """A bucket's lifecycle rule: aborts incomplete multipart uploads, expires objects if `expire_after_days`, and
    expires the versions an overwrite or a delete left behind if `noncurrent_expire_after_days`."""
    return s3.LifecycleRule(
        id=rule_id,
        expiration=Duration.days(expire_after_days) if expire_after_days is not None else None,
        noncurrent_version_expiration=(
            Duration.days(noncurrent_expire_after_days) if noncurrent_expire_after_days is not None else None
        ),
        abort_incomplete_multipart_upload_after=Duration.days(ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS),
    )


def object_lock_props(days: int | None) -> dict[str, Any]:
    """Overrides for a bucket whose object versions S3 Object Lock keeps `days` days in governance mode (none when
    `days` is None). Object Lock needs versioning: the bucket must be versioned too."""
    if days is None:
        return {}
    return {
        "object_lock_enabled": True,
        "object_lock_default_retention": s3.ObjectLockRetention.governance(Duration.days(days)),
    }


def trusted_service(stack: Stack, service: str, *, source_arn: str | None) -> iam.ServicePrincipal:
    """`service` (`glue.amazonaws.com`, ...) as a role's trusted principal, only when it acts for this account
    (`aws:SourceAccount`) and, where the service sets the key on the request, for the resources `source_arn` names
    (`aws:SourceArn`, wildcards allowed): another account cannot have the service use the role (the confused
    deputy)."""
    conditions: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": stack.account}}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return iam.ServicePrincipal(service, conditions=conditions)


def trust_policy(stack: Stack, service: str, *, source_arn: str | None) -> dict[str, Any]:
    """The trust policy document `trusted_service` gives a role, for roles that CDK creates by itself (an escape
    hatch replaces theirs)."""
    principal = trusted_service(stack, service, source_arn=source_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Condition": principal.policy_fragment.conditions,
            }
        ],
    }
