"""The lake's grants, tested alone in a bare stack: what a role may do under the prefixes it is given, and no more."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template

from core import names
from stacks.constructs.lake_access import grant_curated_table_commit, grant_lake_key_through_s3, grant_writes_under
from tests.stacks.conftest import as_list

LAKE_ARN = "arn:aws:s3:::lake"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/lake"
ENDPOINT = "vpce-0123456789abcdef0"
THROUGH = {"StringEquals": {"aws:SourceVpce": ENDPOINT}}


def granted(*grants) -> Template:
    """A bare stack holding one role and the lake, after `grants` (each called with the role and the lake)."""
    stack = Stack(App(), "Grants", env={"account": "111111111111", "region": "eu-west-1"})
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    lake = s3.Bucket.from_bucket_arn(stack, "Lake", LAKE_ARN)
    for grant in grants:
        grant(role, lake)
    return Template.from_stack(stack)


def statements(template: Template) -> list[dict]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_writes_under_the_prefixes_read_back_and_list_them_but_never_delete():
    template = granted(
        lambda role, lake: grant_writes_under(role, lake, ("a/", "b/"), reason="why", endpoint_id=ENDPOINT)
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "WriteTheLakesPrefixes",
                        "Effect": "Allow",
                        "Action": Match.exact(
                            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
                        ),
                        "Resource": Match.exact([f"{LAKE_ARN}/a/*", f"{LAKE_ARN}/b/*"]),
                        # Only through the VPC endpoint named: stolen credentials used elsewhere write nothing.
                        "Condition": Match.exact(THROUGH),
                    },
                    {
                        "Sid": "ListTheLakesPrefixes",
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": LAKE_ARN,
                        "Condition": Match.exact({"StringLike": {"s3:prefix": ["a/*", "b/*"]}, **THROUGH}),
                    },
                ]
            }
        },
    )
    actions = [a for s in statements(template) for a in as_list(s["Action"])]
    assert not any(a.startswith("s3:Delete") or a in ("s3:*", "*") for a in actions)


def test_the_lake_key_only_through_s3_in_the_stacks_region():
    template = granted(lambda role, lake: grant_lake_key_through_s3(role, KEY_ARN))
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.exact(
                        {
                            "Sid": "EncryptTheLakesObjects",
                            "Effect": "Allow",
                            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                            "Resource": KEY_ARN,
                            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
                        }
                    )
                ]
            }
        },
    )


def test_the_commit_reads_and_updates_the_curated_table_alone():
    template = granted(lambda role, lake: grant_curated_table_commit(role))
    resources = Capture()
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "CommitToTheCuratedTable",
                        "Action": Match.exact(["glue:GetTable", "glue:UpdateTable"]),
                        "Resource": resources,
                    }
                ]
            }
        },
    )
    ends = [r["Fn::Join"][1][-1] for r in resources.as_array()]
    assert len(ends) == 3 and [e for e in ends if ":table/" in e] == [ends[-1]]
    assert ends[-1].endswith(f":table/{names.GLUE_DATABASE}/{names.CURATED_TABLE}")
    assert ends[:2] == [
        ":glue:eu-west-1:111111111111:catalog",
        f":glue:eu-west-1:111111111111:database/{names.GLUE_DATABASE}",
    ]
