"""Kafka on Amazon MSK (`-c kafka=msk-serverless` or `msk-provisioned`): the cluster admits only IAM sign-ins over
TLS, the topics are replicated, the services run on Fargate in private subnets with only their own rights, the
consumer scales on its lag, and cdk-nag, cfn-lint and checkov find nothing."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match

from core import metric_names as m
from core import names
from stacks.config import ConfigError, PipelineConfig
from tests.stacks.conftest import as_list, role_statements, synthesize
from tests.stacks.test_checks import acknowledgements, checkov_program, switch_off_acknowledgements

STREAMING = "FitnessPipelineStreaming"


def task_definition(synthesis, service: str) -> tuple[str, dict[str, Any]]:
    """The logical id and the task definition whose containers include `service`."""
    runs = {"Properties": {"ContainerDefinitions": Match.array_with([Match.object_like({"Name": service})])}}
    ((task_id, task),) = synthesis.template(STREAMING).find_resources("AWS::ECS::TaskDefinition", runs).items()
    return task_id, task


def containers(synthesis, service: str) -> dict[str, dict[str, Any]]:
    """The containers of a service's task definition, by name."""
    _, task = task_definition(synthesis, service)
    return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container["Environment"]}


def task_role_id(synthesis, service: str) -> str:
    _, task = task_definition(synthesis, service)
    return task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]


def statements(synthesis, service: str) -> dict[str, dict[str, Any]]:
    found = role_statements(synthesis.template(STREAMING), task_role_id(synthesis, service))
    return {s["Sid"]: s for s in found if "Sid" in s}


def test_the_default_streaming_stack_has_no_msk_and_no_fargate(synthesis):
    streaming = synthesis.template(STREAMING)
    for kind in ("AWS::MSK::Cluster", "AWS::MSK::ServerlessCluster", "AWS::ECS::Service", "AWS::MSK::Topic"):
        streaming.resource_count_is(kind, 0)
    streaming.resource_count_is("AWS::EC2::Instance", 1)


def test_msk_replaces_the_host(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    streaming.resource_count_is("AWS::EC2::Instance", 0)
    streaming.resource_count_is("AWS::ECS::Service", 2)


def test_the_cluster_admits_only_iam_over_tls(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    if msk_synthesis.kafka == "msk-serverless":
        streaming.resource_count_is("AWS::MSK::ServerlessCluster", 1)
        streaming.has_resource_properties(
            "AWS::MSK::ServerlessCluster",
            {
                "ClientAuthentication": Match.exact({"Sasl": {"Iam": {"Enabled": True}}}),
                "VpcConfigs": [Match.object_like({"SubnetIds": [Match.any_value()] * 3})],
            },
        )
        return
    streaming.resource_count_is("AWS::MSK::Cluster", 1)
    streaming.has_resource_properties(
        "AWS::MSK::Cluster",
        {
            "ClientAuthentication": Match.exact(
                {"Sasl": {"Iam": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}}
            ),
            "EncryptionInfo": {
                "EncryptionInTransit": Match.exact({"ClientBroker": "TLS", "InCluster": True}),
                "EncryptionAtRest": {"DataVolumeKMSKeyId": {"Fn::GetAtt": Match.any_value()}},
            },
            "LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": Match.object_like({"Enabled": True})}},
        },
    )


def test_provisioned_has_three_express_brokers_over_three_zones(msk_synthesis):
    if msk_synthesis.kafka != "msk-provisioned":
        pytest.skip("brokers are counted on provisioned clusters only")
    streaming = msk_synthesis.template(STREAMING)
    streaming.resource_count_is("AWS::MSK::Cluster", 1)
    subnets = Capture()
    streaming.has_resource_properties(
        "AWS::MSK::Cluster",
        {
            "NumberOfBrokerNodes": 3,
            "BrokerNodeGroupInfo": {
                "InstanceType": "express.m7g.large",
                "StorageInfo": Match.absent(),  # Express brokers have no volumes to size
                "ClientSubnets": subnets,
            },
        },
    )
    all_subnets = streaming.find_resources("AWS::EC2::Subnet")
    zones = {json.dumps(all_subnets[s["Ref"]]["Properties"]["AvailabilityZone"]) for s in subnets.as_array()}
    assert len(zones) == 3


def test_a_standard_broker_type_gets_volumes(synthesize_with):
    synthesis = synthesize_with(context={"kafka": "msk-provisioned", "mskBrokerType": "kafka.m7g.large"})
    streaming = synthesis.template(STREAMING)
    streaming.resource_count_is("AWS::MSK::Cluster", 1)
    size = Capture()
    streaming.has_resource_properties(
        "AWS::MSK::Cluster",
        {
            "BrokerNodeGroupInfo": {
                "InstanceType": "kafka.m7g.large",
                "StorageInfo": {"EBSStorageInfo": {"VolumeSize": size}},
            }
        },
    )
    assert size.as_number() > 0


def test_provisioned_topics_have_three_replicas_and_two_in_sync(msk_synthesis):
    topics = {
        t["Properties"]["TopicName"]: t["Properties"]
        for t in msk_synthesis.template(STREAMING).find_resources("AWS::MSK::Topic").values()
    }
    if msk_synthesis.kafka == "msk-serverless":
        assert topics == {}, "MSK Serverless has no topic API: the consumer's task creates them"
        return
    assert set(topics) == {names.TOPIC, names.DEAD_LETTER_TOPIC}
    for topic in topics.values():
        assert topic["ReplicationFactor"] == 3
        assert topic["PartitionCount"] == PipelineConfig().topic_partitions
        configs = base64.b64decode(topic["Configs"]).decode().splitlines()
        assert "min.insync.replicas=2" in configs
        assert f"retention.ms={PipelineConfig().topic_retention_hours * 3_600_000}" in configs


def test_serverless_creates_the_topics_before_the_consumer_starts(msk_synthesis):
    found = containers(msk_synthesis, "consumer")
    if msk_synthesis.kafka != "msk-serverless":
        assert "topics" not in found
        return
    topics = found["topics"]
    assert topics["EntryPoint"] == ["python", "-m", "services.common.kafka_admin"]
    env = environment(topics)
    assert env["KAFKA_ACCESS_ACLS"] == "false"
    assert env["KAFKA_ACCESS_SASL_MECHANISM"] == "AWS_MSK_IAM"
    assert topics["Essential"] is False
    assert {"ContainerName": "topics", "Condition": "SUCCESS"} in found["consumer"]["DependsOn"]


@pytest.mark.parametrize("service", ["producer", "consumer"])
def test_the_services_sign_in_with_iam(msk_synthesis, service: str):
    env = environment(containers(msk_synthesis, service)[service])
    prefix = service.upper()
    assert env[f"{prefix}_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env[f"{prefix}_SASL_MECHANISM"] == "AWS_MSK_IAM"
    assert "Fn::GetAtt" in json.dumps(env[f"{prefix}_BOOTSTRAP_SERVERS"]), "the address MSK reports"
    assert not any("PASSWORD" in name or "SECRET" in name for name in env)


def test_the_services_run_in_private_subnets(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    private = {"Properties": {"Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Private"}])}}
    private_ids = set(streaming.find_resources("AWS::EC2::Subnet", private))
    for service in streaming.find_resources("AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert len(network["Subnets"]) == 3
        assert {subnet["Ref"] for subnet in network["Subnets"]} <= private_ids


def test_only_the_tasks_reach_the_brokers(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    kafka = {"Properties": {"FromPort": 9098}}
    assert len(streaming.find_resources("AWS::EC2::SecurityGroupIngress", kafka)) == 1
    streaming.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"FromPort": 9098, "SourceSecurityGroupId": Match.any_value(), "CidrIp": Match.absent()},
    )


def test_one_producer_and_the_configured_consumers(msk_synthesis):
    services = msk_synthesis.template(STREAMING).find_resources("AWS::ECS::Service").values()
    counts = sorted(s["Properties"]["DesiredCount"] for s in services)
    assert counts == [1, PipelineConfig().consumer_tasks]


def test_consumer_tasks_follow_the_lag_between_one_and_the_partitions(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    streaming.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 1)
    streaming.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": PipelineConfig().topic_partitions},
    )
    streaming.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1)
    streaming.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": {
                "CustomizedMetricSpecification": {
                    "MetricName": m.CONSUMER_LAG_SECONDS.name,
                    "Namespace": m.CLOUDWATCH_NAMESPACE,
                    "Dimensions": Match.exact([{"Name": m.SERVICE_LABEL, "Value": m.CONSUMER}]),
                },
                "TargetValue": 2 * PipelineConfig().flush_interval_seconds,
            }
        },
    )


def test_the_consumers_lag_reaches_cloudwatch_through_the_agent_beside_it(msk_synthesis):
    found = containers(msk_synthesis, "consumer")
    agent = found["cloudwatch-agent"]
    scrape = json.loads(environment(agent)["PROMETHEUS_CONFIG_CONTENT"])
    targets = [t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    assert targets == [f"127.0.0.1:{m.METRICS_PORTS[m.CONSUMER]}"]
    assert environment(found["consumer"])["CONSUMER_METRICS_PORT"] == str(m.METRICS_PORTS[m.CONSUMER])
    config = json.dumps(environment(agent)["CW_CONFIG_CONTENT"])
    assert m.CONSUMER_LAG_SECONDS.name in config and m.CLOUDWATCH_NAMESPACE in config


def test_consumer_tasks_never_exceed_the_partitions():
    with pytest.raises(ConfigError, match="consumerTasks must be between 1 and topicPartitions"):
        PipelineConfig(kafka="msk-serverless", consumer_tasks=4, topic_partitions=3)
    assert PipelineConfig(kafka="msk-serverless", consumer_tasks=6, topic_partitions=6).consumer_tasks == 6


def test_an_unknown_kafka_choice_is_refused():
    with pytest.raises(ConfigError, match="kafka must be one of ec2, msk-serverless, msk-provisioned"):
        PipelineConfig.from_context({"kafka": "kinesis"}.get)


def kafka_actions(statement: dict[str, Any]) -> set[str]:
    return {a for a in as_list(statement["Action"]) if a.startswith("kafka-cluster:")}


def test_the_producer_may_only_write_the_data_topic(msk_synthesis):
    found = statements(msk_synthesis, "producer")
    assert kafka_actions(found["SignInToKafka"]) == {"kafka-cluster:Connect", "kafka-cluster:DescribeCluster"}
    write = found["WriteTheDataTopic"]
    creates = {"kafka-cluster:CreateTopic"} if msk_synthesis.kafka == "msk-serverless" else set()
    assert kafka_actions(write) == {"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"} | creates
    resource = json.dumps(write["Resource"])
    assert f'/{names.TOPIC}"' in resource and ":topic/" in resource
    every = json.dumps([s for s in found.values() if kafka_actions(s)])
    assert "ReadData" not in every and "AlterGroup" not in every and names.DEAD_LETTER_TOPIC not in every
    for statement in found.values():
        if kafka_actions(statement):
            assert "*" not in as_list(statement["Resource"])


def test_the_consumer_reads_its_topic_writes_dead_letters_and_commits_in_its_group(msk_synthesis):
    found = statements(msk_synthesis, "consumer")
    read = found["ReadTheDataTopic"]
    assert {"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"} <= kafka_actions(read)
    assert "kafka-cluster:WriteData" not in kafka_actions(read)
    assert f"/{names.TOPIC}" in json.dumps(read["Resource"]) and ".dlq" not in json.dumps(read["Resource"])
    dead = found["WriteTheDeadLetterTopic"]
    assert kafka_actions(dead) == {
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:WriteData",
        "kafka-cluster:DescribeTopicDynamicConfiguration",  # DescribeConfigs: the topic's max.message.bytes
    } | ({"kafka-cluster:CreateTopic"} if msk_synthesis.kafka == "msk-serverless" else set())
    every = json.dumps([s for s in found.values() if kafka_actions(s)])
    assert every.count("DynamicConfiguration") == 1, "the dead-letter topic's configuration, and nothing else's"
    assert "AlterTopicDynamicConfiguration" not in every
    assert f"/{names.DEAD_LETTER_TOPIC}" in json.dumps(dead["Resource"])
    group = found["JoinAndCommitInTheGroup"]
    assert kafka_actions(group) == {"kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"}
    assert f"/{names.CONSUMER_GROUP}" in json.dumps(group["Resource"]) and ":group/" in json.dumps(group["Resource"])
    lake = found["WriteTheLakesPrefixes"]
    assert "s3:DeleteObject" not in as_list(lake["Action"])
    (resource,) = as_list(lake["Resource"])
    assert resource["Fn::Join"][1][-1] == f"/{names.LAKE_DATA_PREFIX}*", "the raw table's prefix, and only it"
    creates = "kafka-cluster:CreateTopic" in kafka_actions(read)
    assert creates == (msk_synthesis.kafka == "msk-serverless")


def test_the_compactor_reads_raw_writes_curated_and_commits_one_table(msk_synthesis):
    found = statements(msk_synthesis, "compactor")
    assert not any(kafka_actions(s) for s in found.values()), "the compactor reads the lake, not Kafka"
    assert names.LAKE_CURATED_PREFIX in json.dumps(found["WriteTheLakesPrefixes"]["Resource"])
    assert found["ReadTheRawFiles"]["Action"] == "s3:GetObject"
    glue = found["CommitToTheCuratedTable"]
    assert set(as_list(glue["Action"])) == {"glue:GetTable", "glue:UpdateTable"}
    assert f"{names.GLUE_DATABASE}/{names.CURATED_TABLE}" in json.dumps(glue["Resource"])
    streaming = msk_synthesis.template(STREAMING)
    streaming.resource_count_is("AWS::Events::Rule", 1)
    targets = Capture()
    streaming.has_resource_properties(
        "AWS::Events::Rule",
        {"ScheduleExpression": f"rate({PipelineConfig().compact_every_minutes} minutes)", "Targets": targets},
    )
    assert targets.as_array()[0]["EcsParameters"]["LaunchType"] == "FARGATE"


def test_the_log_groups_keep_logs_for_the_setting_encrypted_with_the_key(msk_synthesis):
    groups = msk_synthesis.template(STREAMING).find_resources("AWS::Logs::LogGroup")
    service_groups = [g["Properties"] for g in groups.values() if "LogGroupName" in g["Properties"]]
    named = {json.dumps(g["LogGroupName"]) for g in service_groups}
    for service in ("producer", "consumer", "compactor", "metrics"):
        assert any(f"/{service}" in name for name in named), service
    for group in groups.values():
        assert "KmsKeyId" in group["Properties"]
    for group in service_groups:
        assert group["RetentionInDays"] == PipelineConfig().log_retention_days


def test_the_images_are_built_from_the_services_dockerfiles(msk_synthesis):
    manifest = json.loads((msk_synthesis.outdir / f"{STREAMING}.assets.json").read_text())
    builds = [
        (image["source"]["dockerFile"], image["source"]["dockerBuildArgs"])
        for image in manifest["dockerImages"].values()
    ]
    assert sorted(builds, key=str) == [
        ("services/Dockerfile", {"SERVICE": s}) for s in ("compactor", "consumer", "producer")
    ]


def test_cdk_nag_reports_no_finding_on_msk(msk_synthesis):
    report = json.loads((msk_synthesis.outdir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []
    for (path, rule), reason in acknowledgements(msk_synthesis.outdir).items():
        assert len(reason) > 40, f"{path} {rule}: a reason says why accepting the finding is right"


def test_cfn_lint_is_clean_on_msk(msk_synthesis):
    templates = sorted(msk_synthesis.outdir.glob("*.template.json"))
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    result = subprocess.run([cfn_lint, *map(str, templates)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_is_clean_on_msk(msk_synthesis):
    command = [checkov_program(), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]
    command += ["--output", "json", "--file", str(msk_synthesis.outdir / f"{STREAMING}.template.json")]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    report = json.loads(result.stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50, "checkov read the template"
    for check in report["results"].get("skipped_checks", []):
        assert len(check["suppress_comment"]) > 40, f"{check['check_id']} {check['resource']}: say why"


@pytest.mark.slow
@pytest.mark.parametrize("kafka", ["msk-serverless", "msk-provisioned"])
def test_every_acknowledgement_on_msk_is_needed(kafka: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With the acknowledgements switched off, cdk-nag reports exactly the findings they accept: none is stale."""
    kept = synthesize(tmp_path / "kept", context={"kafka": kafka})
    acknowledged = {rule.removeprefix("Annotation::") for _, rule in acknowledgements(kept.outdir)}
    switch_off_acknowledgements(monkeypatch)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path / "bare", context={"kafka": kafka})
    report = json.loads((tmp_path / "bare" / "validation-report.json").read_text())
    findings = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin.get("violations", [])}
    assert findings == acknowledged


def test_the_services_start_after_the_declared_topics(msk_synthesis):
    streaming = msk_synthesis.template(STREAMING)
    topics = set(streaming.find_resources("AWS::MSK::Topic"))
    for service in streaming.find_resources("AWS::ECS::Service").values():
        assert topics <= set(service.get("DependsOn", [])), "the producer must not make its topic first"
