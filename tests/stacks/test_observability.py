"""Watching the pipeline on AWS: log groups, the CloudWatch agent's configuration, the dashboard, the alarms and their
SNS topic, and the recover action. Every alarm's metric is one the code emits (or the agent or EC2 collects)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template

from services.common import metric_names as m
from stacks.config import PipelineConfig
from stacks.constructs.observability import (
    AGENT_CONFIG_PARAMETER,
    HOST_DISK,
    HOST_MEMORY,
    HOST_NAMESPACE,
    LOGGED_SERVICES,
    SCRAPE_CONFIG_PARAMETER,
    agent_config,
    prometheus_scrape_config,
)

STREAMING = "FitnessPipelineStreaming"
DEFAULTS = PipelineConfig()


@pytest.fixture(scope="module")
def template(synthesis) -> Template:
    return Template.from_json(synthesis.templates[STREAMING])


def _alarms(template: Template) -> dict[str, dict]:
    return template.find_resources("AWS::CloudWatch::Alarm")


def _alarm_by_description(template: Template, fragment: str) -> dict:
    found = [a["Properties"] for a in _alarms(template).values() if fragment in a["Properties"]["AlarmDescription"]]
    assert len(found) == 1, f"{len(found)} alarms mention {fragment!r}"
    return found[0]


def _topic_ref(template: Template) -> dict:
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    return {"Ref": topic_id}


def _metric_names(alarm: dict) -> list[tuple[str, str]]:
    """(namespace, metric name) of each metric an alarm reads, single or in a math expression."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"])]
    return [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
            for q in alarm["Metrics"] if "MetricStat" in q]  # fmt: skip


def test_one_encrypted_log_group_per_service_with_the_retention_setting(template: Template):
    key = Capture()
    for service in (*LOGGED_SERVICES, "metrics"):
        template.has_resource_properties(
            "AWS::Logs::LogGroup",
            {"LogGroupName": f"/{STREAMING}/{service}", "RetentionInDays": 30, "KmsKeyId": key},
        )
    assert key.as_object()["Fn::GetAtt"][1] == "Arn"
    key_id = key.as_object()["Fn::GetAtt"][0]
    keys = template.find_resources("AWS::KMS::Key")
    assert keys[key_id]["Properties"]["EnableKeyRotation"] is True
    statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any("logs." in json.dumps(s["Principal"]) for s in statements), "CloudWatch Logs may use the key"


@pytest.fixture(scope="module")
def other(retention_synthesis) -> Template:
    """The app with other retention and alarm settings (tests/stacks/conftest.py)."""
    return Template.from_json(retention_synthesis.templates[STREAMING])


def test_retention_follows_the_context(other: Template):
    other.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": f"/{STREAMING}/consumer",
                                                          "RetentionInDays": 90})  # fmt: skip


def test_alarm_email_subscribes_to_the_encrypted_topic(template: Template, other: Template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::SNS::Subscription", 0)
    other.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})


@pytest.mark.parametrize(
    ("fragment", "metric", "threshold", "operator"),
    [
        ("not yet landed", m.CONSUMER_LAG_SECONDS.name, DEFAULTS.lag_alarm_seconds, "GreaterThanThreshold"),
        ("newest landed event", m.CONSUMER_FRESHNESS.name, DEFAULTS.freshness_alarm_seconds, "GreaterThanThreshold"),
        ("dead letters", m.CONSUMER_DEAD_LETTERS.name, DEFAULTS.dead_letter_alarm_count,
         "GreaterThanOrEqualToThreshold"),
        ("compaction runs failed", m.COMPACTOR_FAILURES.name, DEFAULTS.compactor_failure_alarm_count,
         "GreaterThanOrEqualToThreshold"),
        ("file system / is", HOST_DISK, DEFAULTS.disk_alarm_percent, "GreaterThanThreshold"),
        ("file system /var/lib/fitness-pipeline is", HOST_DISK, DEFAULTS.disk_alarm_percent, "GreaterThanThreshold"),
    ],
)  # fmt: skip
def test_each_alarm_watches_its_metric_with_its_threshold_and_pages(template, fragment, metric, threshold, operator):
    alarm = _alarm_by_description(template, fragment)
    assert alarm["MetricName"] == metric
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == operator
    assert _topic_ref(template) in alarm["AlarmActions"]
    if alarm["Namespace"] == m.CLOUDWATCH_NAMESPACE:
        assert alarm["Dimensions"] == [{"Name": m.SERVICE_LABEL, "Value": m.by_name()[metric].service}]


def test_the_stale_lake_alarm_fires_when_the_producer_produces_and_no_object_lands(template: Template):
    alarm = _alarm_by_description(template, "no object has reached the lake")
    assert alarm["EvaluationPeriods"] == DEFAULTS.stale_lake_flush_intervals
    assert alarm["Threshold"] == 1
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression["Expression"] == "IF(FILL(produced, 0) > 0 AND FILL(files, 0) == 0, 1, 0)"
    assert {name for _, name in _metric_names(alarm)} == {m.PRODUCER_RECORDS.name, m.CONSUMER_FILES.name}
    assert all(q["MetricStat"]["Period"] == DEFAULTS.flush_interval_seconds for q in alarm["Metrics"]
               if "MetricStat" in q)  # fmt: skip
    assert _topic_ref(template) in alarm["AlarmActions"]


def test_thresholds_follow_the_context(other: Template):
    assert _alarm_by_description(other, "not yet landed")["Threshold"] == 120
    assert _alarm_by_description(other, "file system / is")["Threshold"] == 70
    assert _alarm_by_description(other, "no object has reached the lake")["EvaluationPeriods"] == 3


def test_a_failed_system_status_check_recovers_the_instance(template: Template):
    alarm = _alarm_by_description(template, "system status check")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/EC2", "StatusCheckFailed_System")
    (instance_id,) = template.find_resources("AWS::EC2::Instance")
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": {"Ref": instance_id}}]
    recover = [a for a in alarm["AlarmActions"] if "automate" in json.dumps(a)]
    assert len(recover) == 1 and ":ec2:recover" in json.dumps(recover[0])
    assert _topic_ref(template) in alarm["AlarmActions"]


def test_every_alarm_watches_a_metric_that_is_emitted(template: Template):
    emitted = {
        m.CLOUDWATCH_NAMESPACE: {metric.name for metric in m.ALL},
        HOST_NAMESPACE: {HOST_MEMORY, HOST_DISK},
        "AWS/EC2": {"StatusCheckFailed_System", "StatusCheckFailed_Instance", "CPUUtilization"},
    }
    alarms = _alarms(template)
    assert len(alarms) >= 8
    for alarm in alarms.values():
        for namespace, name in _metric_names(alarm["Properties"]):
            assert name in emitted[namespace], f"{name} in {namespace} is emitted by nothing"
            assert _topic_ref(template) in alarm["Properties"]["AlarmActions"]


def test_the_agent_sends_every_service_metric_and_the_hosts_memory_and_disk(template: Template):
    config = agent_config("/x/metrics")
    declarations = config["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"]
    selected = {service: d["metric_selectors"] for d in declarations for service in [d["label_matcher"].strip("^$")]}
    for metric in m.ALL:
        assert f"^{metric.name}(_count|_sum)?$" in selected[metric.service]
    collected = config["metrics"]["metrics_collected"]
    assert f"mem_{collected['mem']['measurement'][0]}" == HOST_MEMORY
    assert f"disk_{collected['disk']['measurement'][0]}" == HOST_DISK
    scrape = json.loads(prometheus_scrape_config())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in scrape["scrape_configs"]}
    assert targets == {service: f"127.0.0.1:{port}" for service, port in m.METRICS_PORTS.items()}
    template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": AGENT_CONFIG_PARAMETER, "Value": Match.string_like_regexp("emf_processor")}
    )
    template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": SCRAPE_CONFIG_PARAMETER, "Value": Match.string_like_regexp("scrape_configs")}
    )


def test_the_dashboard_shows_throughput_lag_freshness_dead_letters_compactor_and_the_host(template: Template):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in (m.PRODUCER_RECORDS.name, m.CONSUMER_RECORDS_LANDED.name, m.CONSUMER_LAG_SECONDS.name,
                 m.CONSUMER_FRESHNESS.name, m.CONSUMER_DEAD_LETTERS.name, m.COMPACTOR_RUNS.name,
                 "CPUUtilization", HOST_MEMORY, HOST_DISK):  # fmt: skip
        assert name in body, f"the dashboard does not show {name}"


def test_the_host_role_writes_its_logs_and_only_the_pipelines_metrics(synthesis):
    from tests.stacks.test_streaming_stack import host_role_id

    statements = synthesis.role_statements(STREAMING, host_role_id(synthesis))
    (put_metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert put_metrics["Condition"]["StringLike"]["cloudwatch:namespace"] == [m.CLOUDWATCH_NAMESPACE, HOST_NAMESPACE]
    writes = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
    ours = {i for i, g in synthesis.resources(STREAMING, "AWS::Logs::LogGroup").items()
            if str(g["Properties"].get("LogGroupName", "")).startswith(f"/{STREAMING}/")}  # fmt: skip
    resources = [r for s in writes for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    written = {r["Fn::GetAtt"][0] for r in resources if isinstance(r, dict) and "Fn::GetAtt" in r}
    assert len(ours) == 4 and ours <= written
    user_data = json.dumps(synthesis.templates[STREAMING]["Resources"])
    assert "amazon-cloudwatch-agent-ctl" in user_data
