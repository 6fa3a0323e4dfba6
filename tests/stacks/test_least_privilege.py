"""What the storage enforces whoever asks, and whom each role trusts, in each of the app's three forms (`ec2`,
`msk-serverless`, `msk-provisioned`): the lake's raw zone append-only by its own bucket policy, writes bound to the
stack's own VPC endpoint and the lake's key, an audit trail of both data buckets in a locked bucket, and a condition
on every trust policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

from core import names
from tests.stacks.conftest import Synthesis, as_list, role_statements
from tests.stacks.test_data_stack import lake_bucket, lake_key_arn

DATA = "FitnessPipelineData"
STREAMING = "FitnessPipelineStreaming"


def lake_policy(template: Template) -> dict[str, dict[str, Any]]:
    """The lake bucket policy's statements, by Sid (the TLS-only one has none)."""
    lake_id, _ = lake_bucket(template)
    (policy,) = template.find_resources("AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": lake_id}}}).values()
    return {s.get("Sid", ""): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def objects_under(template: Template, prefix: str) -> dict[str, Any]:
    lake_id, _ = lake_bucket(template)
    return {"Fn::Join": ["", [{"Fn::GetAtt": [lake_id, "Arn"]}, f"/{prefix}*"]]}


def deny_puts(resource: dict[str, Any], condition: dict[str, Any], sid: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": resource,
        "Condition": condition,
    }


def test_the_lake_refuses_a_raw_put_or_multipart_completion_without_if_none_match(form_synthesis: Synthesis):
    """PutObject and CompleteMultipartUpload are both s3:PutObject to IAM; the multipart steps that cannot carry the
    header (CreateMultipartUpload, UploadPart) have s3:ObjectCreationOperation false and pass."""
    data = form_synthesis.template(DATA)
    statements = lake_policy(data)
    assert statements["RawObjectsAreCreatedNeverReplaced"] == deny_puts(
        objects_under(data, names.LAKE_DATA_PREFIX),
        {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
        "RawObjectsAreCreatedNeverReplaced",
    )
    # Only the raw zone: the curated table's writer (pyiceberg) sends no If-None-Match, and needs none, since
    # Iceberg names every file it writes anew.
    conditional = [s for s in statements.values() if "s3:if-none-match" in json.dumps(s)]
    assert len(conditional) == 1


def test_the_lake_refuses_raw_and_curated_writes_from_outside_a_vpc_endpoint(form_synthesis: Synthesis):
    data = form_synthesis.template(DATA)
    statements = lake_policy(data)
    assert statements["DataWritesOnlyThroughAVpcEndpoint"] == deny_puts(
        objects_under(data, names.LAKE_DATA_PREFIX),
        {"Null": {"aws:SourceVpce": "true"}},
        "DataWritesOnlyThroughAVpcEndpoint",
    )
    curated = statements["CuratedWritesOnlyThroughAVpcEndpointOrByTheOptimizers"]
    assert curated["Resource"] == objects_under(data, names.LAKE_CURATED_PREFIX)
    assert curated["Condition"]["Null"] == {"aws:SourceVpce": "true"}


def test_the_lake_refuses_writes_outside_the_two_tables(form_synthesis: Synthesis):
    data = form_synthesis.template(DATA)
    statement = lake_policy(data)["NoWritesOutsideTheTables"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
    assert statement["Action"] == "s3:PutObject"
    assert "Condition" not in statement and "Resource" not in statement
    assert statement["NotResource"] == [
        objects_under(data, names.LAKE_DATA_PREFIX),
        objects_under(data, names.LAKE_CURATED_PREFIX),
    ]


def test_the_lake_refuses_objects_under_any_key_but_its_own(form_synthesis: Synthesis):
    """A request that names another KMS key, or SSE-S3, is refused; one that names none gets the bucket's default,
    the lake's key, hence IfExists (a condition on an absent header would refuse every default-encrypted put)."""
    data = form_synthesis.template(DATA)
    statements = lake_policy(data)
    lake_id, _ = lake_bucket(data)
    every_object = {"Fn::Join": ["", [{"Fn::GetAtt": [lake_id, "Arn"]}, "/*"]]}
    assert statements["OnlyTheLakesKey"] == deny_puts(
        every_object,
        {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": lake_key_arn(data)}},
        "OnlyTheLakesKey",
    )
    assert statements["OnlyKmsEncryption"] == deny_puts(
        every_object,
        {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        "OnlyKmsEncryption",
    )


def lake_statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """Every allow, in any role of the streaming stack, that names the lake (imported by its ARN)."""
    found = []
    for role_id in template.find_resources("AWS::IAM::Role"):
        for statement in role_statements(template, role_id):
            resources = json.dumps(statement.get("Resource", ""))
            if statement["Effect"] == "Allow" and "LakeBucketArn" in resources:
                found.append((role_id, statement))
    return found


def test_the_lakes_writers_may_write_only_through_this_stacks_own_endpoint(form_synthesis: Synthesis):
    """The bucket policy cannot name the streaming stack's endpoint (the data stack comes first); the writers' own
    rights do: stolen credentials, used through any other endpoint or none, write nothing."""
    streaming = form_synthesis.template(STREAMING)
    (endpoint_id,) = streaming.find_resources("AWS::EC2::VPCEndpoint")
    statements = lake_statements(streaming)
    writes = [(role, s) for role, s in statements if "s3:PutObject" in as_list(s["Action"])]
    writers = {role for role, _ in writes}
    # The host's role on ec2; the consumer's and the compactor's task roles on MSK.
    assert len(writers) == (1 if form_synthesis.kafka == "ec2" else 2)
    prefixes = {json.dumps(s["Resource"]) for _, s in writes}
    assert any(names.LAKE_DATA_PREFIX in p for p in prefixes)
    assert any(names.LAKE_CURATED_PREFIX in p for p in prefixes)
    for role, statement in statements:
        if role in writers:  # every right on the lake a writer holds: write, read back, list
            assert statement["Condition"]["StringEquals"]["aws:SourceVpce"] == {"Ref": endpoint_id}, statement


@pytest.fixture(scope="module")
def data(synthesis: Synthesis) -> Template:
    return synthesis.template(DATA)


def audit_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    bucket = Capture()
    template.has_resource_properties("AWS::CloudTrail::Trail", {"S3BucketName": {"Ref": bucket}})
    return bucket.as_string(), template.find_resources("AWS::S3::Bucket")[bucket.as_string()]


def results_bucket_id(template: Template) -> str:
    results = Capture()
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": {
                "ResultConfiguration": {"OutputLocation": {"Fn::Join": ["", Match.array_with([{"Ref": results}])]}}
            }
        },
    )
    return results.as_string()


def test_the_trail_records_the_data_events_of_the_lake_and_of_the_query_results(form_synthesis: Synthesis):
    data = form_synthesis.template(DATA)
    data.resource_count_is("AWS::CloudTrail::Trail", 1)
    lake_id, _ = lake_bucket(data)
    objects = [
        {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/"]]} for bucket in (lake_id, results_bucket_id(data))
    ]
    data.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IsLogging": True,
            "EnableLogFileValidation": True,
            "EventSelectors": Match.exact(
                [
                    {
                        "ReadWriteType": "All",
                        "IncludeManagementEvents": False,
                        "DataResources": [{"Type": "AWS::S3::Object", "Values": objects}],
                    }
                ]
            ),
        },
    )


def test_the_audit_bucket_is_versioned_and_locked_in_governance_mode_for_a_year(form_synthesis: Synthesis):
    _, bucket = audit_bucket(form_synthesis.template(DATA))
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 730 and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_the_audit_lock_follows_its_setting(retention_synthesis: Synthesis):
    _, bucket = audit_bucket(retention_synthesis.template(DATA))
    assert bucket["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "GOVERNANCE",
        "Days": 90,
    }


@pytest.mark.slow
def test_no_lock_where_the_data_may_be_destroyed(destroy_data_synthesis: Synthesis):
    """`cdk destroy` with destroyData empties the buckets: a lock would refuse the deletes."""
    template = destroy_data_synthesis.template(DATA)
    _, bucket = audit_bucket(template)
    assert "ObjectLockEnabled" not in bucket["Properties"]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert not any("ObjectLockEnabled" in b["Properties"] for b in template.find_resources("AWS::S3::Bucket").values())


def test_cloudtrail_may_write_the_audit_bucket_and_use_the_key_for_this_trail_only(data: Template):
    bucket_id, _ = audit_bucket(data)
    name = Capture()
    data.has_resource_properties("AWS::CloudTrail::Trail", {"TrailName": name})
    trail_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cloudtrail:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":trail/{name.as_string()}",
            ],
        ]
    }
    (policy,) = data.find_resources("AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}).values()
    grants = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    ]
    assert sorted(s["Action"] for s in grants) == ["s3:GetBucketAcl", "s3:PutObject"]
    for grant in grants:
        assert grant["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
        assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    (key,) = data.find_resources("AWS::KMS::Key").values()
    cloudtrail = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
    ]
    assert len(cloudtrail) == 2
    for statement in cloudtrail:
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn


def test_the_lake_is_not_locked_unless_asked(form_synthesis: Synthesis):
    _, bucket = lake_bucket(form_synthesis.template(DATA))
    assert "ObjectLockEnabled" not in bucket["Properties"]


def test_object_lock_on_the_lake_is_governance_mode_for_the_setting(retention_synthesis: Synthesis):
    _, bucket = lake_bucket(retention_synthesis.template(DATA))
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 45}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


#: Whom each trusted service is conditioned on, beside this account (`aws:SourceAccount`): the `aws:SourceArn`
#: pattern, or None where the service sets no such key when it assumes the role.
SOURCE_ARNS = {
    "ecs-tasks.amazonaws.com": ":ecs:",
    "events.amazonaws.com": ":rule/*",
    "dlm.amazonaws.com": ":policy/*",
    "vpc-flow-logs.amazonaws.com": ":vpc-flow-log/*",
    "glue.amazonaws.com": None,
}
#: Services that set neither aws:SourceAccount nor aws:SourceArn when they assume a role: EC2 for an instance
#: profile, Lambda for a function's execution role (CDK's custom-resource handlers).
UNCONDITIONED = {"ec2.amazonaws.com", "lambda.amazonaws.com"}


def test_every_trust_policy_names_this_account_and_the_source_where_the_service_allows(form_synthesis: Synthesis):
    seen = set()
    for stack in (DATA, STREAMING):
        template = form_synthesis.template(stack)
        for role_id, role in template.find_resources("AWS::IAM::Role").items():
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                (service,) = as_list(statement["Principal"]["Service"])
                seen.add(service)
                if service in UNCONDITIONED:
                    assert "Condition" not in statement, f"{role_id}: {service} would not match a condition"
                    continue
                assert service in SOURCE_ARNS, f"{role_id}: a role trusting {service} needs its conditions known"
                condition = statement["Condition"]
                assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}, role_id
                pattern = SOURCE_ARNS[service]
                if pattern is None:
                    assert set(condition) == {"StringEquals"}
                else:
                    assert pattern in json.dumps(condition["ArnLike"]["aws:SourceArn"]), role_id
    expected = {"glue.amazonaws.com", "ec2.amazonaws.com", "dlm.amazonaws.com", "vpc-flow-logs.amazonaws.com"}
    if form_synthesis.kafka != "ec2":
        expected = {"glue.amazonaws.com", "ecs-tasks.amazonaws.com", "events.amazonaws.com", "lambda.amazonaws.com"}
    assert expected <= seen
