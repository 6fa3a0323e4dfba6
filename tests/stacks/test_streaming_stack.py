"""The streaming stack: VPC, the host's instance, security group, role, user-data, CreationPolicy, outputs."""

from __future__ import annotations

import json

from services.common import names
from stacks.constructs.kafka_host import KAFKA_CA_PARAMETER, KAFKA_PORT

STREAMING = "FitnessPipelineStreaming"
S3_WRITE_ACTIONS = {
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
    "s3:PutObjectAcl",
    "s3:PutObjectTagging",
}


def as_list(value):
    return value if isinstance(value, list) else [value]


def host_role_id(synthesis) -> str:
    profile = synthesis.only(STREAMING, "AWS::IAM::InstanceProfile")["Properties"]
    return profile["Roles"][0]["Ref"]


def test_vpc_has_a_literal_cidr_and_no_nat_gateway(synthesis):
    vpc = synthesis.only(STREAMING, "AWS::EC2::VPC")["Properties"]
    assert isinstance(vpc["CidrBlock"], str)
    assert not synthesis.resources(STREAMING, "AWS::EC2::NatGateway")
    assert synthesis.resources(STREAMING, "AWS::EC2::FlowLog")


def test_imdsv2_is_required_and_the_volume_encrypted_with_no_key_pair(synthesis):
    instance = synthesis.only(STREAMING, "AWS::EC2::Instance")["Properties"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert "KeyName" not in instance
    assert all(mapping["Ebs"]["Encrypted"] is True for mapping in instance["BlockDeviceMappings"])
    image = instance["ImageId"]["Ref"]
    parameter = synthesis.templates[STREAMING]["Parameters"][image]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert "al2023" in parameter["Default"]


def test_no_ingress_from_anywhere_and_kafka_only_from_the_vpc(synthesis):
    vpc_cidr = synthesis.only(STREAMING, "AWS::EC2::VPC")["Properties"]["CidrBlock"]
    rules = []
    for group in synthesis.resources(STREAMING, "AWS::EC2::SecurityGroup").values():
        rules += group["Properties"].get("SecurityGroupIngress", [])
    rules += [r["Properties"] for r in synthesis.resources(STREAMING, "AWS::EC2::SecurityGroupIngress").values()]
    assert rules, "the host must admit Kafka clients"
    for rule in rules:
        assert rule.get("CidrIp") not in ("0.0.0.0/0",)
        assert rule.get("CidrIpv6") not in ("::/0",)
        assert not rule.get("FromPort", 0) <= 22 <= rule.get("ToPort", -1), "no SSH"
    assert {(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in rules} == {(vpc_cidr, KAFKA_PORT, KAFKA_PORT)}


def test_host_role_writes_only_under_the_lakes_prefixes(synthesis):
    writes = [
        statement
        for statement in synthesis.role_statements(STREAMING, host_role_id(synthesis))
        if statement["Effect"] == "Allow"
        and any(
            action in S3_WRITE_ACTIONS or action in ("s3:*", "*") or action.startswith("s3:Put")
            for action in as_list(statement["Action"])
        )
    ]
    assert writes, "the consumer must be able to write to the lake"
    allowed = {f"/{names.LAKE_DATA_PREFIX}*", f"/{names.LAKE_QUARANTINE_PREFIX}*"}
    suffixes = set()
    for statement in writes:
        assert not any(a in ("s3:DeleteObject", "s3:*", "*") for a in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"]):
            parts = resource["Fn::Join"][1]
            assert parts[0] == {"Fn::ImportValue": "FitnessPipelineData-LakeBucketArn"}
            suffixes.add(parts[1])
    assert suffixes == allowed


def test_deploy_waits_for_the_host_to_signal_health(synthesis):
    instances = synthesis.resources(STREAMING, "AWS::EC2::Instance")
    ((logical_id, instance),) = instances.items()
    assert instance["CreationPolicy"]["ResourceSignal"]["Count"] == 1
    assert instance["CreationPolicy"]["ResourceSignal"]["Timeout"].startswith("PT")
    user_data = json.dumps(instance["Properties"]["UserData"])
    assert "cfn-signal" in user_data
    assert f'export SIGNAL_RESOURCE=\\"{logical_id}\\"' in user_data


def test_user_data_carries_the_settings_and_the_source_asset(synthesis):
    user_data = json.dumps(synthesis.only(STREAMING, "AWS::EC2::Instance")["Properties"]["UserData"])
    for expected in (
        f'export TOPIC=\\"{names.TOPIC}\\"',
        f'export DEAD_LETTER_TOPIC=\\"{names.DEAD_LETTER_TOPIC}\\"',
        'export SIMULATED_USERS=\\"33\\"',
        'export TOPIC_PARTITIONS=\\"3\\"',
        f'export KAFKA_CA_PARAMETER=\\"{KAFKA_CA_PARAMETER}\\"',
        "systemctl enable --now fitness-pipeline.service",
    ):
        assert expected in user_data
    assert "FitnessPipelineData-LakeBucketName" in user_data
    assert "s3://cdk-hnb659fds-assets-" in user_data


def test_source_asset_holds_only_the_services_and_the_host_files(synthesis):
    (asset_dir,) = [p for p in synthesis.outdir.glob("asset.*") if p.is_dir()]
    files = {str(p.relative_to(asset_dir)) for p in asset_dir.rglob("*") if p.is_file()}
    assert "pyproject.toml" in files
    assert "stacks/host/compose.yaml" in files
    assert "stacks/host/user-data.sh" in files
    assert "services/common/schema.py" in files
    outside = {
        f
        for f in files
        if f not in ("pyproject.toml", "README.md", ".dockerignore") and not f.startswith(("services/", "stacks/host/"))
    }
    assert not outside
    assert not any("__pycache__" in f for f in files)


def test_outputs_give_the_bucket_bootstrap_shell_command_and_workgroup(synthesis):
    streaming = synthesis.templates[STREAMING]["Outputs"]
    data = synthesis.templates["FitnessPipelineData"]["Outputs"]
    assert {"KafkaBootstrapServers", "ShellCommand", "AthenaWorkgroup"} <= set(streaming)
    assert {"LakeBucketName", "AthenaWorkgroup"} <= set(data)
    assert "aws ssm start-session" in json.dumps(streaming["ShellCommand"]["Value"])
    assert f":{KAFKA_PORT}" in json.dumps(streaming["KafkaBootstrapServers"]["Value"])
    assert streaming["AthenaWorkgroup"]["Value"] == names.ATHENA_WORKGROUP


def test_host_role_may_write_exactly_the_ca_certificate_parameter(synthesis):
    ssm = [
        statement
        for statement in synthesis.role_statements(STREAMING, host_role_id(synthesis))
        if any(action.startswith("ssm:") or action == "*" for action in as_list(statement["Action"]))
    ]
    assert len(ssm) == 1
    (statement,) = ssm
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["ssm:PutParameter"]
    (resource,) = as_list(statement["Resource"])
    parts = resource["Fn::Join"][1]
    assert parts[0] == "arn:"
    assert parts[-1] == f":parameter{KAFKA_CA_PARAMETER}"
    assert "*" not in json.dumps(resource)


def test_outputs_say_kafka_speaks_tls_and_where_the_ca_certificate_is(synthesis):
    streaming = synthesis.templates[STREAMING]["Outputs"]
    assert streaming["KafkaCaCertificateParameter"]["Value"] == KAFKA_CA_PARAMETER
    description = streaming["KafkaBootstrapServers"]["Description"]
    assert "TLS" in description
    assert "security.protocol=SSL" in description
    assert "KafkaCaCertificateParameter" in description
