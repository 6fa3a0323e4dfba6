"""Watching the pipeline on AWS: log groups, the CloudWatch agent's configuration, the dashboard, the alarms and their
SNS topic, and the recover action. Every alarm's metric is one the code emits (or the agent or EC2 collects)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template

from core import metric_names as m
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
    return synthesis.template(STREAMING)


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
    return [
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    ]


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
    return retention_synthesis.template(STREAMING)


def test_retention_follows_the_context(other: Template):
    other.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": f"/{STREAMING}/consumer", "RetentionInDays": 90}
    )


def test_alarm_email_subscribes_to_the_encrypted_topic(template: Template, other: Template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::SNS::Subscription", 0)
    other.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})


@pytest.mark.parametrize(
    ("fragment", "metric", "threshold", "operator"),
    [
        ("not yet landed", m.CONSUMER_LAG_SECONDS.name, DEFAULTS.lag_alarm_seconds, "GreaterThanThreshold"),
        ("newest landed event", m.CONSUMER_FRESHNESS.name, DEFAULTS.freshness_alarm_seconds, "GreaterThanThreshold"),
        (
            "dead letters",
            m.CONSUMER_DEAD_LETTERS.name,
            DEFAULTS.dead_letter_alarm_count,
            "GreaterThanOrEqualToThreshold",
        ),
        (
            "compaction runs failed",
            m.COMPACTOR_FAILURES.name,
            DEFAULTS.compactor_failure_alarm_count,
            "GreaterThanOrEqualToThreshold",
        ),
        ("file system / is", HOST_DISK, DEFAULTS.disk_alarm_percent, "GreaterThanThreshold"),
        ("file system /var/lib/fitness-pipeline is", HOST_DISK, DEFAULTS.disk_alarm_percent, "GreaterThanThreshold"),
    ],
)
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
    assert all(
        q["MetricStat"]["Period"] == DEFAULTS.flush_interval_seconds for q in alarm["Metrics"] if "MetricStat" in q
    )
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


def _alarm_metrics(alarm: dict) -> list[tuple[str, str, str | None]]:
    """(namespace, metric name, the `service` dimension or None) of each metric an alarm reads."""
    stats = (
        [alarm] if "MetricName" in alarm else [q["MetricStat"]["Metric"] for q in alarm["Metrics"] if "MetricStat" in q]
    )
    found = []
    for stat in stats:
        dimensions = {d["Name"]: d["Value"] for d in stat.get("Dimensions", [])}
        found.append((stat["Namespace"], stat["MetricName"], dimensions.get(m.SERVICE_LABEL)))
    return found


def test_every_alarm_watches_a_declared_metric_of_its_service(template: Template):
    """Read from the shared constants: a service metric an alarm watches is declared in metric_names, under the
    service of the alarm's `service` dimension; the host's metrics are the agent's, the status checks EC2's."""
    declared = {
        m.CLOUDWATCH_NAMESPACE: {(metric.name, metric.service) for metric in m.ALL},
        HOST_NAMESPACE: {(HOST_MEMORY, None), (HOST_DISK, None)},
        "AWS/EC2": {("StatusCheckFailed_System", None), ("StatusCheckFailed_Instance", None)},
    }
    alarms = _alarms(template)
    assert len(alarms) >= 8
    watched = set()
    for alarm in alarms.values():
        for namespace, name, service in _alarm_metrics(alarm["Properties"]):
            assert (name, service) in declared[namespace], f"{name} ({service}) in {namespace} is declared nowhere"
            assert _topic_ref(template) in alarm["Properties"]["AlarmActions"]
            watched.add(name)
    assert m.COMPACTOR_FAILURES.name in watched


@pytest.mark.integration
def test_every_alarm_watches_a_metric_the_services_really_emit(
    template: Template, kafka_bootstrap: str, topic_name: str, tmp_path
):
    """The producer, the consumer and the compactor run for real (a broker, a lake, the curated table), each with
    its endpoint on; every service metric an alarm watches is among the names its service's endpoint serves."""
    from services.compactor.metrics import CompactorMetrics
    from services.compactor.service import run_once
    from services.compactor.settings import CompactorSettings
    from services.consumer.writer import LakeWriter
    from services.producer.kafka_producer import produce
    from services.producer.metrics import ProducerMetrics
    from tests.consumer.conftest import Background, create_topic, free_port, make_records, settings_for, wait_until
    from tests.consumer.conftest import produce as produce_raw
    from tests.integration.test_metrics import scrape
    from tests.producer.kafka_helpers import producer_settings

    emitted: dict[str, set[str]] = {}
    records = make_records(200, seed=3, days=2)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    producer = ProducerMetrics(statistics_interval_ms=200)
    server = producer.serve(free_port())
    try:
        produce(records, producer_settings(kafka_bootstrap, topic_name, partitions=2, progress=False), metrics=producer)
        emitted[m.PRODUCER] = _sample_families(scrape(server.url))
    finally:
        server.close()
    produce_raw(kafka_bootstrap, topic_name, [b"not a record"], [b"1"])

    lake = tmp_path / "lake"
    writer = LakeWriter(
        settings_for(
            kafka_bootstrap,
            topic_name,
            lake_dir=lake,
            flush_interval_s=1.0,
            metrics_port=free_port(),
            statistics_interval_ms=200,
        )
    )
    with Background(writer):
        assert writer.metrics_server is not None
        url = writer.metrics_server.url

        def settled() -> bool:
            samples = scrape(url)
            landed = samples.get((m.CONSUMER_RECORDS_LANDED.name, ()), 0) == len(records)
            return landed and {m.CONSUMER_LAG_SECONDS.name, m.CONSUMER_FRESHNESS.name} <= _sample_families(samples)

        assert wait_until(settled, 60)
        emitted[m.CONSUMER] = _sample_families(scrape(url))

    compactor = CompactorMetrics()
    server = compactor.serve(free_port())
    try:
        assert run_once(CompactorSettings(catalog="sql", lake_dir=lake), compactor) is not None
        emitted[m.COMPACTOR] = _sample_families(scrape(server.url))
    finally:
        server.close()

    checked = 0
    for alarm in _alarms(template).values():
        for namespace, name, service in _alarm_metrics(alarm["Properties"]):
            if namespace == m.CLOUDWATCH_NAMESPACE:
                assert name in emitted[service], f"the {service} does not emit {name}"
                checked += 1
    assert checked >= 6  # lag, freshness, two in the stale lake's expression, dead letters, compactor failures


def _sample_families(samples: dict) -> set[str]:
    """The declared metric names a scrape holds (a summary's samples end in _count and _sum)."""
    names = {n for name, _ in samples for n in (name, name.removesuffix("_count"), name.removesuffix("_sum"))}
    return names & set(m.by_name())


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
    for name in (
        m.PRODUCER_RECORDS.name,
        m.CONSUMER_RECORDS_LANDED.name,
        m.CONSUMER_LAG_SECONDS.name,
        m.CONSUMER_FRESHNESS.name,
        m.CONSUMER_DEAD_LETTERS.name,
        m.COMPACTOR_RUNS.name,
        "CPUUtilization",
        HOST_MEMORY,
        HOST_DISK,
    ):
        assert name in body, f"the dashboard does not show {name}"


def test_the_host_role_writes_its_logs_and_only_the_pipelines_metrics(template: Template):
    from tests.stacks.test_streaming_stack import host_statements

    statements = host_statements(template)
    (put_metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert put_metrics["Condition"]["StringLike"]["cloudwatch:namespace"] == [m.CLOUDWATCH_NAMESPACE, HOST_NAMESPACE]
    writes = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
    ours = set(
        template.find_resources(
            "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": Match.string_like_regexp(f"^/{STREAMING}/")}}
        )
    )
    resources = [r for s in writes for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    written = {r["Fn::GetAtt"][0] for r in resources if isinstance(r, dict) and "Fn::GetAtt" in r}
    assert len(ours) == len(LOGGED_SERVICES) + 1 == 5 and ours <= written
    (instance,) = template.find_resources("AWS::EC2::Instance").values()
    assert "amazon-cloudwatch-agent-ctl" in json.dumps(instance)
