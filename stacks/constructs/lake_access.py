"""Rights on the lake and its Glue tables, the same for every role that needs them: the services' (on the host or on
ECS Fargate) write (and read back) under given prefixes only, through their own VPC's S3 endpoint only, never
delete, use the lake's key only through S3, and commit to the curated table; the crawler and Glue's optimizers list
their table's prefix only.

The lake's bucket policy (data stack) refuses writes that come through no VPC endpoint at all; it cannot name the
streaming stack's endpoint, which is made after it (the streaming stack depends on the data stack). So the writers'
own rights name it: their credentials, wherever they are used, write nothing unless the request comes through this
stack's endpoint (`aws:SourceVpce`)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from core import names
from stacks.nag import acknowledge, rendered


def glue_table_arns(stack: Stack, table: str) -> list[str]:
    """What an IAM statement on one table of the pipeline's Glue database names: the catalog, the database, the
    table."""
    return [
        stack.format_arn(service="glue", resource="catalog"),
        stack.format_arn(service="glue", resource="database", resource_name=names.GLUE_DATABASE),
        stack.format_arn(service="glue", resource="table", resource_name=f"{names.GLUE_DATABASE}/{table}"),
    ]


def through(endpoint_id: str | None) -> dict[str, dict[str, str]]:
    """The condition that a request comes through the VPC endpoint `endpoint_id` (none when None)."""
    return {} if endpoint_id is None else {"StringEquals": {"aws:SourceVpce": endpoint_id}}


def list_under(
    lake: s3.IBucket, prefixes: Sequence[str], *, sid: str, endpoint_id: str | None = None
) -> iam.PolicyStatement:
    """List the lake's keys under `prefixes`, and no others (and only through `endpoint_id`, if given)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["s3:ListBucket"],
        resources=[lake.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}, **through(endpoint_id)},
    )


def grant_lake_key_through_s3(role: iam.IRole, lake_key_arn: str) -> None:
    """The lake's objects are encrypted with the lake's key: the role may use it, but only through S3."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="EncryptTheLakesObjects",
            # GenerateDataKey to write an object; Decrypt to complete a multipart upload and read one back.
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[lake_key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(role).region}.amazonaws.com"}},
        )
    )


def grant_writes_under(
    role: iam.IRole,
    lake: s3.IBucket,
    prefixes: Sequence[str],
    *,
    reason: str,
    endpoint_id: str,
    sids: tuple[str, str] = ("WriteTheLakesPrefixes", "ListTheLakesPrefixes"),
) -> None:
    """Write (and read back) objects under `prefixes` and list only those, through the VPC endpoint `endpoint_id`
    only; no delete. `reason` tells cdk-nag why the object names end in a wildcard; `sids` name the write and the
    list statements."""
    write_sid, list_sid = sids
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=write_sid,
            actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            resources=[lake.arn_for_objects(f"{prefix}*") for prefix in prefixes],
            conditions=through(endpoint_id),
        )
    )
    for prefix in prefixes:
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{rendered(role, lake.bucket_arn)}/{prefix}*]", reason)
    role.add_to_principal_policy(list_under(lake, prefixes, sid=list_sid, endpoint_id=endpoint_id))


def grant_curated_table_commit(role: iam.IRole) -> None:
    """Read and update the curated table in Glue (an Iceberg commit), and no other table."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CommitToTheCuratedTable",
            actions=["glue:GetTable", "glue:UpdateTable"],
            resources=glue_table_arns(Stack.of(role), names.CURATED_TABLE),
        )
    )
