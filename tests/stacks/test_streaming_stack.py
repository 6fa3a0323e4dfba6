"""The streaming stack: VPC, the host's instance, security group, role, user-data and init metadata, CreationPolicy,
Kafka's data volume and its snapshots, outputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from aws_cdk.assertions import Capture, Match, Template

from core import names
from stacks.constructs.kafka_host import HOST_DIR, KAFKA_CA_PARAMETER, KAFKA_PORT
from stacks.constructs.observability import AGENT_CONFIG_PARAMETER, SCRAPE_CONFIG_PARAMETER
from tests.conftest import REPO_ROOT
from tests.stacks.conftest import as_list, role_statements

STREAMING = "FitnessPipelineStreaming"
S3_WRITE_ACTIONS = {
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
    "s3:PutObjectAcl",
    "s3:PutObjectTagging",
}


@pytest.fixture(scope="module")
def streaming(synthesis) -> Template:
    """The streaming stack's template, for `aws_cdk.assertions`."""
    return synthesis.template(STREAMING)


def host_role_id(template: Template) -> str:
    """The logical id of the role the host's instance profile hands the instance."""
    template.resource_count_is("AWS::IAM::InstanceProfile", 1)
    role = Capture()
    template.has_resource_properties("AWS::IAM::InstanceProfile", {"Roles": [{"Ref": role}]})
    return role.as_string()


def host_statements(template: Template) -> list[dict]:
    return role_statements(template, host_role_id(template))


def test_vpc_has_a_literal_cidr_and_no_nat_gateway(streaming: Template):
    (vpc,) = streaming.find_resources("AWS::EC2::VPC").values()
    assert isinstance(vpc["Properties"]["CidrBlock"], str), "a literal CIDR, not a token"
    streaming.resource_count_is("AWS::EC2::NatGateway", 0)
    assert streaming.find_resources("AWS::EC2::FlowLog")


def test_imdsv2_is_required_and_the_volume_encrypted_with_no_key_pair(streaming: Template):
    streaming.resource_count_is("AWS::EC2::Instance", 1)
    mappings, image = Capture(), Capture()
    streaming.has_resource_properties(
        "AWS::EC2::Instance",
        {
            "MetadataOptions": {"HttpTokens": "required"},
            "KeyName": Match.absent(),
            "BlockDeviceMappings": mappings,
            "ImageId": {"Ref": image},
        },
    )
    assert all(mapping["Ebs"]["Encrypted"] is True for mapping in mappings.as_array())
    streaming.has_parameter(
        image.as_string(),
        {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": Match.string_like_regexp("al2023")},
    )


def test_no_ingress_from_anywhere_and_kafka_only_from_the_vpc(streaming: Template):
    (vpc,) = streaming.find_resources("AWS::EC2::VPC").values()
    vpc_cidr = vpc["Properties"]["CidrBlock"]
    rules = []
    for group in streaming.find_resources("AWS::EC2::SecurityGroup").values():
        rules += group["Properties"].get("SecurityGroupIngress", [])
    rules += [r["Properties"] for r in streaming.find_resources("AWS::EC2::SecurityGroupIngress").values()]
    assert rules, "the host must admit Kafka clients"
    for rule in rules:
        assert rule.get("CidrIp") not in ("0.0.0.0/0",)
        assert rule.get("CidrIpv6") not in ("::/0",)
        assert not rule.get("FromPort", 0) <= 22 <= rule.get("ToPort", -1), "no SSH"
    assert {(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in rules} == {(vpc_cidr, KAFKA_PORT, KAFKA_PORT)}


def test_host_role_writes_only_under_the_lakes_prefixes(streaming: Template):
    writes = [
        statement
        for statement in host_statements(streaming)
        if statement["Effect"] == "Allow"
        and any(
            action in S3_WRITE_ACTIONS or action in ("s3:*", "*") or action.startswith("s3:Put")
            for action in as_list(statement["Action"])
        )
    ]
    assert writes, "the consumer must be able to write to the lake"
    # The consumer's prefixes, and the curated table's, where the compactor writes.
    allowed = {f"/{names.LAKE_DATA_PREFIX}*", f"/{names.LAKE_CURATED_PREFIX}*"}
    suffixes = set()
    for statement in writes:
        assert not any(a in ("s3:DeleteObject", "s3:*", "*") for a in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"]):
            parts = resource["Fn::Join"][1]
            assert parts[0] == {"Fn::ImportValue": "FitnessPipelineData-LakeBucketArn"}
            suffixes.add(parts[1])
    assert suffixes == allowed


def host_instance(template: Template) -> tuple[str, dict]:
    ((logical_id, instance),) = template.find_resources("AWS::EC2::Instance").items()
    return logical_id, instance


def host_init(template: Template) -> dict:
    """The instance's AWS::CloudFormation::Init metadata: what cfn-init applies at boot and cfn-hup after a deploy."""
    return host_instance(template)[1]["Metadata"]["AWS::CloudFormation::Init"]


def user_data_text(instance: dict) -> str:
    parts = instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else json.dumps(part, sort_keys=True) for part in parts)


def test_deploy_waits_for_the_host_to_signal_health(streaming: Template):
    logical_id, instance = host_instance(streaming)
    streaming.has_resource(
        "AWS::EC2::Instance", {"CreationPolicy": {"ResourceSignal": {"Count": 1, "Timeout": "PT30M"}}}
    )
    user_data = user_data_text(instance)
    assert "/opt/aws/bin/cfn-init -v --region" in user_data
    assert f"--resource {logical_id} -c setup\n" in user_data
    assert re.search(rf"cfn-signal -e \$\? .* --resource {logical_id}\n", user_data)


def test_the_user_data_holds_no_setting_and_no_source(streaming: Template):
    """What may change between deploys lives in the metadata; the user-data only starts cfn-init."""
    user_data = user_data_text(host_instance(streaming)[1])
    assert "cdk-hnb659fds-assets" not in user_data
    assert "SIMULATED_USERS" not in user_data
    assert "fingerprint" not in user_data, "a fingerprint of the metadata would change the user-data"


def test_the_metadata_carries_the_settings_the_source_and_the_set_up(streaming: Template):
    init = host_init(streaming)
    assert init["configSets"] == {"setup": ["settings", "apply"]}
    files = init["settings"]["files"]
    settings = json.dumps(files["/etc/fitness-pipeline/stack.env"]["content"])
    for expected in (
        f'TOPIC=\\"{names.TOPIC}\\"',
        f'DEAD_LETTER_TOPIC=\\"{names.DEAD_LETTER_TOPIC}\\"',
        'SIMULATED_USERS=\\"33\\"',
        'TOPIC_PARTITIONS=\\"3\\"',
        f'KAFKA_CA_PARAMETER=\\"{KAFKA_CA_PARAMETER}\\"',
        "FitnessPipelineData-LakeBucketName",
        "s3://cdk-hnb659fds-assets-",
    ):
        assert expected in settings
    assert files["/usr/local/sbin/fitness-pipeline-setup"]["content"] == (HOST_DIR / "setup.sh").read_text()
    assert files["/usr/local/sbin/fitness-pipeline-setup"]["mode"] == "000755"
    assert init["apply"]["commands"]


def test_cfn_hup_applies_every_change_of_the_metadata(streaming: Template):
    logical_id, _ = host_instance(streaming)
    hook = Capture()
    streaming.has_resource(
        "AWS::EC2::Instance",
        {
            "Metadata": {
                "AWS::CloudFormation::Init": Match.object_like(
                    {
                        "settings": Match.object_like(
                            {
                                "files": Match.object_like({"/etc/cfn/hooks.d/fitness-pipeline.conf": hook}),
                                "services": {"systemd": {"cfn-hup": Match.object_like({"enabled": True})}},
                            }
                        )
                    }
                )
            }
        },
    )
    content = json.dumps(hook.as_object()["content"])
    assert "triggers=post.update" in content
    assert f"path=Resources.{logical_id}.Metadata.AWS::CloudFormation::Init" in content
    assert f"--resource {logical_id} --configsets setup" in content
    assert "files" not in json.dumps(host_init(streaming)["settings"]["services"]), (
        "cfn-init never restarts cfn-hup, whose hook is what runs cfn-init after a deploy"
    )


def test_the_data_volume_is_encrypted_gp3_in_the_hosts_zone_and_kept(streaming: Template):
    zone = Capture()
    streaming.has_resource(
        "AWS::EC2::Volume",
        {
            "Properties": Match.object_like(
                {"Encrypted": True, "VolumeType": "gp3", "AvailabilityZone": zone, "Size": Match.any_value()}
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    streaming.resource_count_is("AWS::EC2::Volume", 1)
    streaming.has_resource_properties("AWS::EC2::Instance", {"AvailabilityZone": zone.as_object()})
    (volume_id,) = streaming.find_resources("AWS::EC2::Volume")
    settings = json.dumps(host_init(streaming)["settings"]["files"]["/etc/fitness-pipeline/stack.env"])
    assert json.dumps({"Ref": volume_id}) in settings, "the host is told which volume to attach"
    streaming.has_output("KafkaDataVolumeId", {"Value": {"Ref": volume_id}})  # the runbook starts from it


def test_the_host_may_attach_its_data_volume_and_nothing_else(streaming: Template):
    """The attachment: the host attaches the volume at boot, allowed only for this volume and tagged instances."""
    (volume_id,) = streaming.find_resources("AWS::EC2::Volume")
    statements = host_statements(streaming)
    attach = [s for s in statements if "ec2:AttachVolume" in as_list(s["Action"])]
    assert len(attach) == 1
    (statement,) = attach
    resources = json.dumps(statement["Resource"])
    assert json.dumps({"Ref": volume_id}) in resources
    assert ":instance/*" in resources
    ((condition, tags),) = statement["Condition"].items()
    assert condition == "ForAnyValue:StringEquals"
    ((tag_key, tag_value),) = tags.items()
    tag_key = tag_key.removeprefix("ec2:ResourceTag/")
    streaming.has_resource_properties(
        "AWS::EC2::Instance", {"Tags": Match.array_with([{"Key": tag_key, "Value": tag_value}])}
    )
    assert not any(
        action in ("ec2:DetachVolume", "ec2:DeleteVolume", "ec2:*", "*")
        for s in statements
        for action in as_list(s["Action"])
    )


def test_the_data_volume_is_snapshotted_daily_and_kept_for_the_retention(retention_synthesis):
    template = retention_synthesis.template(STREAMING)
    tag = Capture()
    template.has_resource_properties(
        "AWS::DLM::LifecyclePolicy",
        {
            "State": "ENABLED",
            "PolicyDetails": Match.object_like(
                {
                    "ResourceTypes": ["VOLUME"],
                    "TargetTags": [tag],
                    "Schedules": [
                        Match.object_like(
                            {
                                "CreateRule": Match.object_like({"Interval": 24, "IntervalUnit": "HOURS"}),
                                "RetainRule": {"Interval": 12, "IntervalUnit": "DAYS"},
                            }
                        )
                    ],
                }
            ),
        },
    )
    template.resource_count_is("AWS::EC2::Volume", 1)
    # The policy finds the volume by its tag.
    template.has_resource_properties("AWS::EC2::Volume", {"Tags": Match.array_with([tag.as_object()])})


@pytest.mark.slow
def test_destroy_data_deletes_the_data_volume_with_the_stack(destroy_data_synthesis):
    template = destroy_data_synthesis.template(STREAMING)
    template.resource_count_is("AWS::EC2::Volume", 1)
    template.has_resource("AWS::EC2::Volume", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


def test_source_asset_holds_only_the_services_and_the_host_files(synthesis):
    (asset_dir,) = [p for p in synthesis.outdir.glob("asset.*") if (p / "pyproject.toml").is_file()]
    files = {str(p.relative_to(asset_dir)) for p in asset_dir.rglob("*") if p.is_file()}
    assert "pyproject.toml" in files
    assert "stacks/host/compose.yaml" in files
    assert "stacks/host/setup.sh" in files
    assert "stacks/host/kafka-data.sh" in files
    assert "core/schema.py" in files
    outside = {
        f
        for f in files
        if f not in ("pyproject.toml", "README.md", ".dockerignore")
        and not f.startswith(("core/", "services/", "stacks/host/"))
    }
    assert not outside
    assert not any("__pycache__" in f for f in files)


def test_outputs_give_the_bucket_bootstrap_shell_command_and_workgroup(synthesis, streaming: Template):
    outputs = streaming.find_outputs("*")
    assert {"KafkaBootstrapServers", "ShellCommand", "AthenaWorkgroup"} <= set(outputs)
    assert {"LakeBucketName", "AthenaWorkgroup"} <= set(synthesis.template("FitnessPipelineData").find_outputs("*"))
    assert "aws ssm start-session" in json.dumps(outputs["ShellCommand"]["Value"])
    assert f":{KAFKA_PORT}" in json.dumps(outputs["KafkaBootstrapServers"]["Value"])
    streaming.has_output("AthenaWorkgroup", {"Value": names.ATHENA_WORKGROUP})


def test_host_role_may_write_exactly_the_ca_certificate_parameter(streaming: Template):
    statements = host_statements(streaming)
    reads = {"ssm:DescribeParameters", "ssm:GetParameters", "ssm:GetParameter", "ssm:GetParameterHistory"}
    ssm = [
        statement
        for statement in statements
        if any(
            (action.startswith("ssm:") and action not in reads) or action == "*"
            for action in as_list(statement["Action"])
        )
    ]
    assert len(ssm) == 1
    # What it may read: the CloudWatch agent's two configuration parameters, and nothing else.
    read = [s for s in statements if set(as_list(s["Action"])) & reads]
    assert all(set(as_list(s["Action"])) <= reads for s in read)
    resources = [r for s in read for r in as_list(s["Resource"])]
    parameters = streaming.find_resources("AWS::SSM::Parameter")
    names = {parameters[r["Fn::Join"][1][-1]["Ref"]]["Properties"]["Name"] for r in resources}
    assert len(resources) == 2 and names == {AGENT_CONFIG_PARAMETER, SCRAPE_CONFIG_PARAMETER}
    (statement,) = ssm
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["ssm:PutParameter"]
    (resource,) = as_list(statement["Resource"])
    parts = resource["Fn::Join"][1]
    assert parts[0] == "arn:"
    assert parts[-1] == f":parameter{KAFKA_CA_PARAMETER}"
    assert "*" not in json.dumps(resource)


def test_outputs_say_kafka_speaks_tls_and_where_the_ca_certificate_is(streaming: Template):
    streaming.has_output("KafkaCaCertificateParameter", {"Value": KAFKA_CA_PARAMETER})
    description = streaming.find_outputs("KafkaBootstrapServers")["KafkaBootstrapServers"]["Description"]
    assert "TLS" in description
    assert "security.protocol=SASL_SSL" in description
    assert "KafkaCaCertificateParameter" in description
    for user in ("Producer", "Consumer"):
        streaming.has_output(f"Kafka{user}SecretArn", {"Value": {"Ref": kafka_user_secret_id(streaming, user.lower())}})


def host_settings(template: Template) -> dict:
    """The settings file the instance's init metadata writes for the host's set-up."""
    return host_init(template)["settings"]["files"]


def streaming_key_id(template: Template) -> str:
    (key_id,) = template.find_resources("AWS::KMS::Key")
    return key_id


def kafka_user_secret_id(template: Template, user: str) -> str:
    secret = {"GenerateSecretString": Match.object_like({"SecretStringTemplate": json.dumps({"username": user})})}
    (found,) = template.find_resources("AWS::SecretsManager::Secret", {"Properties": Match.object_like(secret)})
    return found


def test_the_streaming_key_rotates_and_encrypts_the_volume_the_secrets_and_the_flow_logs(streaming: Template):
    key_id = streaming_key_id(streaming)
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    streaming.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    (instance,) = streaming.find_resources("AWS::EC2::Instance").values()
    assert [m["Ebs"]["KmsKeyId"] for m in instance["Properties"]["BlockDeviceMappings"]] == [key_arn]
    streaming.resource_count_is("AWS::EC2::Volume", 1)
    # Kafka's data volume, and so its snapshots.
    streaming.has_resource_properties("AWS::EC2::Volume", {"Encrypted": True, "KmsKeyId": key_arn})
    secrets = streaming.find_resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 3
    assert streaming.find_resources("AWS::SecretsManager::Secret", {"Properties": {"KmsKeyId": key_arn}}) == secrets
    log_groups = streaming.find_resources("AWS::Logs::LogGroup")
    assert log_groups
    assert streaming.find_resources("AWS::Logs::LogGroup", {"Properties": {"KmsKeyId": key_arn}}) == log_groups


def test_one_kafka_user_secret_per_service_and_the_host_reads_only_those(streaming: Template):
    from core.kafka_access import USERS

    secret_ids = {user: kafka_user_secret_id(streaming, user) for user in USERS}
    statements = host_statements(streaming)
    reads = [s for s in statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    assert len(reads) == 1
    assert set(as_list(reads[0]["Action"])) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert sorted(r["Ref"] for r in reads[0]["Resource"]) == sorted(secret_ids.values())
    streaming_kms = [
        s
        for s in statements
        if any(a.startswith("kms:") for a in as_list(s["Action"])) and "ImportValue" not in json.dumps(s)
    ]
    # Only to attach its encrypted data volume: a grant that EC2 makes for the instance, through EC2.
    assert [as_list(s["Action"]) for s in streaming_kms] == [["kms:CreateGrant"]]
    assert streaming_kms[0]["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": True}
    (key,) = streaming.find_resources("AWS::KMS::Key").values()
    (host_grant,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"].get("AWS") == {"Fn::GetAtt": [host_role_id(streaming), "Arn"]}
    ]
    assert host_grant["Action"] == "kms:Decrypt"
    assert "secretsmanager." in json.dumps(host_grant["Condition"]["StringEquals"]["kms:ViaService"])
    settings = json.dumps(host_settings(streaming))
    for user, secret_id in secret_ids.items():
        assert f'KAFKA_{user.upper()}_SECRET=\\"", {{"Ref": "{secret_id}"}}' in settings


def test_the_host_may_read_the_one_source_object_and_nothing_else_of_the_asset_bucket(streaming: Template):
    statements = host_statements(streaming)
    assets = [s for s in statements if "cdk-hnb659fds-assets" in json.dumps(s["Resource"])]
    assert len(assets) == 1
    (statement,) = assets
    assert as_list(statement["Action"]) == ["s3:GetObject"]
    (resource,) = as_list(statement["Resource"])
    key = resource["Fn::Join"][1][-1]
    assert re.fullmatch(r"/[0-9a-f]{64}\.zip", key), key
    assert key.lstrip("/") in json.dumps(host_settings(streaming)), "the object granted is the one the host downloads"


def test_the_flow_log_role_trusts_the_service_for_this_account_only(streaming: Template):
    trusts_flow_logs = {
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Condition": Match.exact(
                                {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                    "ArnLike": {
                                        "aws:SourceArn": {
                                            "Fn::Join": [
                                                "",
                                                [
                                                    "arn:",
                                                    {"Ref": "AWS::Partition"},
                                                    ":ec2:",
                                                    {"Ref": "AWS::Region"},
                                                    ":",
                                                    {"Ref": "AWS::AccountId"},
                                                    ":vpc-flow-log/*",
                                                ],
                                            ]
                                        }
                                    },
                                }
                            ),
                        }
                    )
                ]
            }
        }
    }
    assert len(streaming.find_resources("AWS::IAM::Role", trusts_flow_logs)) == 1
    service = {
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "vpc-flow-logs.amazonaws.com"}})]
                )
            }
        }
    }
    assert len(streaming.find_resources("AWS::IAM::Role", service)) == 1, (
        "one role trusts the service, with the condition"
    )


def test_the_host_uses_the_lakes_key_only_through_s3(streaming: Template):
    statements = host_statements(streaming)
    (lake_key,) = [
        s
        for s in statements
        if any(a.startswith("kms:") for a in as_list(s["Action"])) and "ImportValue" in json.dumps(s)
    ]
    assert set(as_list(lake_key["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert lake_key["Resource"] == {"Fn::ImportValue": "FitnessPipelineData-LakeKeyArn"}
    assert "s3." in json.dumps(lake_key["Condition"]["StringEquals"]["kms:ViaService"])


def test_the_vpc_reaches_s3_through_a_gateway_endpoint_on_every_route_table(streaming: Template):
    streaming.resource_count_is("AWS::EC2::VPCEndpoint", 1)
    service, route_tables = Capture(), Capture()
    streaming.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "ServiceName": service, "RouteTableIds": route_tables},
    )
    assert ".s3" in json.dumps(service.as_object())
    tables = set(streaming.find_resources("AWS::EC2::RouteTable"))
    assert {t["Ref"] for t in route_tables.as_array()} == tables


def test_the_default_security_group_is_emptied(streaming: Template):
    streaming.resource_count_is("Custom::VpcRestrictDefaultSG", 1)
    vpc_id = next(iter(streaming.find_resources("AWS::EC2::VPC")))
    streaming.has_resource_properties(
        "Custom::VpcRestrictDefaultSG",
        {"DefaultSecurityGroupId": Match.exact({"Fn::GetAtt": [vpc_id, "DefaultSecurityGroup"]})},
    )


def test_sessions_on_the_host_are_logged_to_an_encrypted_log_group(streaming: Template):
    streaming.resource_count_is("AWS::SSM::Document", 1)
    group = Capture()
    streaming.has_resource_properties(
        "AWS::SSM::Document",
        {
            "DocumentType": "Session",
            "Content": Match.object_like(
                {"inputs": Match.object_like({"cloudWatchEncryptionEnabled": True, "cloudWatchLogGroupName": group})}
            ),
        },
    )
    (document_id,) = streaming.find_resources("AWS::SSM::Document")
    group_id = group.as_object()["Ref"]
    encrypted = {"Properties": Match.object_like({"KmsKeyId": {"Fn::GetAtt": [streaming_key_id(streaming), "Arn"]}})}
    assert group_id in streaming.find_resources("AWS::Logs::LogGroup", encrypted)
    statements = host_statements(streaming)
    (writes,) = [s for s in statements if s.get("Sid") == "WriteTheSessionLogs"]
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= set(as_list(writes["Action"]))
    assert {"Fn::GetAtt": [group_id, "Arn"]} in as_list(writes["Resource"])
    shell = json.dumps(streaming.find_outputs("ShellCommand")["ShellCommand"]["Value"])
    assert "--document-name" in shell and f'"Ref": "{document_id}"' in shell


def source_copy(destination: Path) -> Path:
    """The part of the repository the source asset takes, copied, so a test may change it."""
    for name in ("pyproject.toml", "README.md", ".dockerignore"):
        shutil.copy2(REPO_ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "services", destination / "services", ignore=ignore)
    shutil.copytree(REPO_ROOT / "stacks" / "host", destination / "stacks" / "host", ignore=ignore)
    return destination


@pytest.mark.slow
def test_a_new_source_readme_or_setting_updates_the_host_in_place(synthesis, synthesize_with, tmp_path: Path):
    """A deploy that changes only the services, the README or a pipeline setting changes the instance's metadata
    and nothing else of it: no logical id moves and no property changes, so CloudFormation neither replaces the
    instance nor stops it, and cfn-hup applies the new metadata."""
    changed = source_copy(tmp_path)
    with (changed / "services" / "consumer" / "writer.py").open("a", encoding="utf-8") as file:
        file.write("\n# a change of the consumer's source\n")
    with (changed / "README.md").open("a", encoding="utf-8") as file:
        file.write("\nA change of the README.\n")
    variant = synthesize_with(source_root=changed, context={"simulatedUsers": "50", "flushIntervalSeconds": "120"})

    before, after = synthesis.template(STREAMING), variant.template(STREAMING)
    assert set(after.to_json()["Resources"]) == set(before.to_json()["Resources"]), "no resource is added or renamed"
    ((instance_id, old),) = before.find_resources("AWS::EC2::Instance").items()
    new = after.find_resources("AWS::EC2::Instance")[instance_id]
    assert new["Properties"] == old["Properties"], "the same user-data, image, type, subnet and tags"
    assert new["CreationPolicy"] == old["CreationPolicy"]
    assert after.find_resources("AWS::EC2::Volume") == before.find_resources("AWS::EC2::Volume")

    assert new["Metadata"] != old["Metadata"], "the change reaches the host through its metadata"
    old_settings = json.dumps(old["Metadata"]["AWS::CloudFormation::Init"]["settings"]["files"])
    new_settings = json.dumps(new["Metadata"]["AWS::CloudFormation::Init"]["settings"]["files"])
    assert 'SIMULATED_USERS=\\"50\\"' in new_settings and 'SIMULATED_USERS=\\"33\\"' in old_settings
    assert 'CONSUMER_STOP_GRACE_S=\\"150\\"' in new_settings
    asset = re.compile(r"[0-9a-f]{64}\.zip")
    assert asset.findall(new_settings) != asset.findall(old_settings), "the new source asset"


@pytest.mark.slow
def test_a_new_host_generation_replaces_the_instance_and_keeps_the_data_volume(synthesis, synthesize_with):
    """The one deliberate way to a new instance (after a lost one): a new logical id, which the host's own cfn-init,
    cfn-signal and cfn-hup follow; the data volume and its snapshots are untouched."""
    variant = synthesize_with(context={"hostGeneration": "2"})
    (old_id,) = synthesis.template(STREAMING).find_resources("AWS::EC2::Instance")
    ((new_id, instance),) = variant.template(STREAMING).find_resources("AWS::EC2::Instance").items()
    assert new_id != old_id
    assert f"--resource {new_id} -c setup" in user_data_text(instance)
    hook = json.dumps(instance["Metadata"]["AWS::CloudFormation::Init"]["settings"]["files"])
    assert f"path=Resources.{new_id}.Metadata" in hook and old_id not in hook
    for resource_type in ("AWS::EC2::Volume", "AWS::DLM::LifecyclePolicy"):
        before = synthesis.template(STREAMING).find_resources(resource_type)
        assert variant.template(STREAMING).find_resources(resource_type) == before
