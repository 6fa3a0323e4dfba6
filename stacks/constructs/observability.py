"""Watching the pipeline on AWS: the services' log groups, the CloudWatch agent's configuration, a dashboard, and
alarms that page through an SNS topic.

The services' metrics reach CloudWatch through the CloudWatch agent on the host, which scrapes their Prometheus
endpoints and writes them as the embedded metric format. The agent also collects the host's memory and disk, which
no service can see, so one agent does both; the services keep a single way of exposing metrics (the one Prometheus
and `curl` read locally) and carry no AWS-specific code. Every metric name comes from
`core.metric_names`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from core import metric_names as m
from stacks.config import PipelineConfig
from stacks.defaults import removal_policy
from stacks.nag import acknowledge

#: The containers whose logs go to CloudWatch Logs, one log group each; `metrics` holds what the agent scrapes.
LOGGED_SERVICES = ("kafka", m.PRODUCER, m.CONSUMER, m.COMPACTOR)
METRICS_LOG_GROUP = "metrics"
#: Where the host's CloudWatch agent reads its configuration and its Prometheus scrape configuration (SSM).
AGENT_CONFIG_PARAMETER = "/fitness-pipeline/cloudwatch-agent/config"
SCRAPE_CONFIG_PARAMETER = "/fitness-pipeline/cloudwatch-agent/prometheus"
#: The agent's own namespace for the host (memory and disk), with the instance id as dimension.
HOST_NAMESPACE = "FitnessPipeline/Host"
HOST_MEMORY = "mem_used_percent"
HOST_DISK = "disk_used_percent"
#: The file systems whose usage is watched: the root volume, and Kafka's data volume (setup.sh mounts it there).
WATCHED_PATHS = ("/", "/var/lib/fitness-pipeline")
#: How often the agent scrapes the services and collects the host's figures.
SCRAPE_INTERVAL_S = 60
#: Dead letters and compactor failures are counted over these windows.
DEAD_LETTER_WINDOW = Duration.minutes(5)
COMPACTOR_WINDOW = Duration.hours(1)


#: CDK's name for each retention period CloudWatch Logs offers (stacks.config.LogRetentionDays).
_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


@dataclass(frozen=True)
class AlarmSpec:
    """What an alarm watches: its metric's name and namespace, for tests and the README."""

    alarm: cw.Alarm
    metric_names: tuple[str, ...]
    namespace: str


def service_metric(metric: m.MetricName, statistic: str, period: Duration | None = None) -> cw.Metric:
    """A service's metric as the agent writes it: the service's namespace, the dimension `service`."""
    return cw.Metric(
        namespace=m.CLOUDWATCH_NAMESPACE,
        metric_name=metric.name,
        dimensions_map={m.SERVICE_LABEL: metric.service},
        statistic=statistic,
        period=period or Duration.minutes(1),
    )


def prometheus_scrape_config() -> str:
    """The agent's Prometheus scrape configuration: each service's endpoint on the host's loopback, labelled with
    the service's name (the dimension of its metrics)."""
    jobs = []
    for service, port in m.METRICS_PORTS.items():
        jobs.append(
            {
                "job_name": service,
                "sample_limit": 10000,
                "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {m.SERVICE_LABEL: service}}],
            }
        )
    config = {"global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "scrape_timeout": "10s"}, "scrape_configs": jobs}
    return json.dumps(config, indent=1)  # JSON is YAML


def agent_config(metrics_log_group: str) -> dict:
    """The CloudWatch agent's configuration: host memory and disk, and the services' Prometheus metrics."""
    declarations = [
        {
            "source_labels": [m.SERVICE_LABEL],
            "label_matcher": f"^{service}$",
            "dimensions": [[m.SERVICE_LABEL]],
            "metric_selectors": [f"^{metric.name}(_count|_sum)?$" for metric in m.of_service(service)],
        }
        for service in m.METRICS_PORTS
    ]
    return {
        "agent": {"metrics_collection_interval": SCRAPE_INTERVAL_S, "run_as_user": "cwagent"},
        "metrics": {
            "namespace": HOST_NAMESPACE,
            "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
            "aggregation_dimensions": [["InstanceId"], ["InstanceId", "path"]],
            "metrics_collected": {
                "mem": {"measurement": [HOST_MEMORY.removeprefix("mem_")]},
                "disk": {"measurement": [HOST_DISK.removeprefix("disk_")], "resources": list(WATCHED_PATHS)},
            },
        },
        "logs": {
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": metrics_log_group,
                    "prometheus_config_path": "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml",
                    "emf_processor": {
                        "metric_declaration_dedup": True,
                        "metric_namespace": m.CLOUDWATCH_NAMESPACE,
                        "metric_declaration": declarations,
                    },
                }
            }
        },
    }


def log_group_name(stack_name: str, service: str) -> str:
    return f"/{stack_name}/{service}"


class Observability(Construct):
    """`log_groups` (by service), the agent's configuration parameters, `topic`; once `watch` has been given the
    host, `dashboard` and `alarms` (by name).

    `key` encrypts the log groups and the topic (the streaming stack passes its own key); without one, a key of this
    construct's own is made, for a construct used alone."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        stack_name = Stack.of(self).stack_name
        self.key = key or kms.Key(
            self,
            "Key",
            description="Encrypts the fitness pipeline's logs and alarm notifications.",
            enable_key_rotation=True,
            removal_policy=removal_policy(destroy_data=config.destroy_data),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:"
                        f"{Aws.ACCOUNT_ID}:log-group:*"
                    }
                },
            )
        )
        # CloudWatch alarms publish to the encrypted topic: they need the key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

        self.log_groups: dict[str, logs.LogGroup] = {}
        for service in (*LOGGED_SERVICES, METRICS_LOG_GROUP):
            self.log_groups[service] = logs.LogGroup(
                self,
                f"{service.capitalize()}Logs",
                # Named, because operators look for them and the host's files name them before the stack exists.
                log_group_name=log_group_name(stack_name, service),
                retention=getattr(logs.RetentionDays, _RETENTION_NAMES[config.log_retention_days]),
                encryption_key=self.key,
                removal_policy=removal_policy(destroy_data=config.destroy_data),
            )
        self.agent_config = agent_config(log_group_name(stack_name, METRICS_LOG_GROUP))
        self.agent_config_parameter = ssm.StringParameter(
            self,
            "AgentConfig",
            parameter_name=AGENT_CONFIG_PARAMETER,
            description="CloudWatch agent configuration of the fitness pipeline's host",
            string_value=json.dumps(self.agent_config),
        )
        self.scrape_config_parameter = ssm.StringParameter(
            self,
            "ScrapeConfig",
            parameter_name=SCRAPE_CONFIG_PARAMETER,
            description="Prometheus scrape configuration of the host's CloudWatch agent: the services' endpoints",
            string_value=prometheus_scrape_config(),
        )
        self.topic = sns.Topic(
            self, "Alarms", display_name="Fitness pipeline alarms", master_key=self.key, enforce_ssl=True
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, AlarmSpec] = {}
        self.dashboard: cw.Dashboard | None = None

    def host_settings(self) -> dict[str, str]:
        """What the host's files read: the log group of each container, the agent's parameters, the metric ports,
        and a digest of the agent's configuration: a new one changes the settings, so the host applies it."""
        stack_name = Stack.of(self).stack_name
        settings = {f"{service.upper()}_LOG_GROUP": log_group_name(stack_name, service) for service in LOGGED_SERVICES}
        settings |= {f"{service.upper()}_METRICS_PORT": str(port) for service, port in m.METRICS_PORTS.items()}
        digest = hashlib.sha256((json.dumps(self.agent_config) + prometheus_scrape_config()).encode()).hexdigest()
        return settings | {
            "CW_AGENT_CONFIG_PARAMETER": AGENT_CONFIG_PARAMETER,
            "CW_SCRAPE_CONFIG_PARAMETER": SCRAPE_CONFIG_PARAMETER,
            "CW_AGENT_CONFIG_DIGEST": digest[:16],
        }

    def watch(self, instance: ec2.Instance, role: iam.IRole) -> None:
        """Let the host's role write the logs and metrics and read the agent's configuration; add the alarms on the
        host and the services, and the dashboard."""
        for group in self.log_groups.values():
            group.grant_write(role)
            group.grant(role, "logs:DescribeLogStreams")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutTheHostsMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource; the condition bounds it to the pipeline's namespaces
                conditions={"StringLike": {"cloudwatch:namespace": [m.CLOUDWATCH_NAMESPACE, HOST_NAMESPACE]}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeItselfForTheAgent",
                actions=["ec2:DescribeTags", "ec2:DescribeVolumes", "ec2:DescribeInstances"],
                resources=["*"],  # Describe* actions take no resource
            )
        )

        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData and the ec2:Describe* calls the CloudWatch agent makes have no resource to name; "
            "PutMetricData is bound to the pipeline's two namespaces by its condition.",
        )
        self.agent_config_parameter.grant_read(role)
        self.scrape_config_parameter.grant_read(role)
        self._alarms(self.config, instance)
        self.dashboard = self._dashboard(instance)

    # -- alarms ---------------------------------------------------------------------------------------------------
    def _alarms(self, config: PipelineConfig, instance: ec2.Instance) -> None:
        """Every alarm from one table: each pages through the topic when it fires and when it clears."""
        for spec in _alarm_table(config, instance):
            alarm = spec.metric.create_alarm(
                self,
                spec.construct_id,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                comparison_operator=spec.operator,
                treat_missing_data=spec.missing,
                alarm_description=spec.description,
            )
            if spec.recover:
                alarm.add_alarm_action(cw_actions.Ec2Action(cw_actions.Ec2InstanceAction.RECOVER))
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            alarm.add_ok_action(cw_actions.SnsAction(self.topic))
            self.alarms[spec.name] = AlarmSpec(alarm, spec.metric_names, spec.namespace)

    # -- dashboard ------------------------------------------------------------------------------------------------
    def _dashboard(self, instance: ec2.Instance) -> cw.Dashboard:
        host = {"InstanceId": instance.instance_id}

        def graph(title: str, *metrics: cw.IMetric, unit: str = "") -> cw.GraphWidget:
            return cw.GraphWidget(
                title=title,
                left=list(metrics),
                width=8,
                height=6,
                left_y_axis=cw.YAxisProps(label=unit, show_units=False, min=0),
            )

        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            graph(
                "Throughput: records in and out per minute",
                service_metric(m.PRODUCER_RECORDS, "Sum").with_(label="produced"),
                service_metric(m.CONSUMER_RECORDS_LANDED, "Sum").with_(label="landed"),
                unit="records",
            ),
            graph(
                "Consumer lag (oldest record not landed)",
                service_metric(m.CONSUMER_LAG_SECONDS, "Maximum").with_(label="lag"),
                unit="seconds",
            ),
            graph(
                "Freshness (age of the newest landed event)",
                service_metric(m.CONSUMER_FRESHNESS, "Maximum").with_(label="freshness"),
                unit="seconds",
            ),
        )
        dashboard.add_widgets(
            graph(
                "Dead letters per 5 minutes",
                service_metric(m.CONSUMER_DEAD_LETTERS, "Sum", DEAD_LETTER_WINDOW).with_(label="dead letters"),
                unit="messages",
            ),
            graph(
                "Compactor runs and failures per hour",
                service_metric(m.COMPACTOR_RUNS, "Sum", COMPACTOR_WINDOW).with_(label="runs"),
                service_metric(m.COMPACTOR_FAILURES, "Sum", COMPACTOR_WINDOW).with_(label="failures"),
                unit="runs",
            ),
            graph(
                "Lake objects written per minute",
                service_metric(m.CONSUMER_FILES, "Sum").with_(label="objects"),
                unit="objects",
            ),
        )
        dashboard.add_widgets(
            graph(
                "Host CPU",
                cw.Metric(
                    namespace="AWS/EC2",
                    metric_name="CPUUtilization",
                    dimensions_map=host,
                    statistic="Average",
                    period=Duration.minutes(1),
                ),
                unit="%",
            ),
            graph(
                "Host memory",
                cw.Metric(
                    namespace=HOST_NAMESPACE,
                    metric_name=HOST_MEMORY,
                    dimensions_map=host,
                    statistic="Maximum",
                    period=Duration.minutes(1),
                ),
                unit="%",
            ),
            graph(
                "Host disk",
                *(
                    cw.Metric(
                        namespace=HOST_NAMESPACE,
                        metric_name=HOST_DISK,
                        dimensions_map={**host, "path": path},
                        statistic="Maximum",
                        period=Duration.minutes(1),
                    ).with_(label=path)
                    for path in WATCHED_PATHS
                ),
                unit="%",
            ),
        )
        dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=[spec.alarm for spec in self.alarms.values()], width=24)
        )
        return dashboard


_ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
_AT_LEAST = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


@dataclass(frozen=True)
class _Alarm:
    """One row of the alarm table."""

    name: str
    construct_id: str
    metric: cw.IMetric
    threshold: float
    evaluation_periods: int
    operator: cw.ComparisonOperator
    missing: cw.TreatMissingData
    description: str
    metric_names: tuple[str, ...]
    namespace: str
    recover: bool = False  # EC2's recover action too


def _service_alarm(
    name: str,
    construct_id: str,
    metric: m.MetricName,
    statistic: str,
    period: Duration | None,
    threshold: float,
    evaluation_periods: int,
    operator: cw.ComparisonOperator,
    missing: cw.TreatMissingData,
    description: str,
) -> _Alarm:
    return _Alarm(
        name,
        construct_id,
        service_metric(metric, statistic, period),
        threshold,
        evaluation_periods,
        operator,
        missing,
        description,
        (metric.name,),
        m.CLOUDWATCH_NAMESPACE,
    )


def _alarm_table(config: PipelineConfig, instance: ec2.Instance) -> list[_Alarm]:
    """The alarms: what each watches, its threshold (a setting where one is documented), and what it says."""
    not_breaching, breaching, missing = (
        cw.TreatMissingData.NOT_BREACHING,
        cw.TreatMissingData.BREACHING,
        cw.TreatMissingData.MISSING,
    )
    period = Duration.seconds(max(60, math.ceil(config.flush_interval_seconds / 60) * 60))
    stale = cw.MathExpression(
        expression="IF(FILL(produced, 0) > 0 AND FILL(files, 0) == 0, 1, 0)",
        using_metrics={
            "produced": service_metric(m.PRODUCER_RECORDS, "Sum", period),
            "files": service_metric(m.CONSUMER_FILES, "Sum", period),
        },
        period=period,
        label="producing while no object reaches the lake",
    )

    def ec2_metric(name: str, period: Duration, namespace: str = "AWS/EC2", **dimensions: str) -> cw.Metric:
        return cw.Metric(
            namespace=namespace,
            metric_name=name,
            statistic="Maximum",
            period=period,
            dimensions_map={"InstanceId": instance.instance_id, **dimensions},
        )

    return [
        _service_alarm(
            "lag",
            "LagAlarm",
            m.CONSUMER_LAG_SECONDS,
            "Maximum",
            None,
            config.lag_alarm_seconds,
            3,
            _ABOVE,
            not_breaching,
            f"The oldest record not yet landed is older than {config.lag_alarm_seconds} s "
            "(a stopped consumer is caught by the freshness alarm).",
        ),
        _service_alarm(
            "freshness",
            "FreshnessAlarm",
            m.CONSUMER_FRESHNESS,
            "Maximum",
            None,
            config.freshness_alarm_seconds,
            3,
            _ABOVE,
            breaching,
            f"The newest landed event is older than {config.freshness_alarm_seconds} s, or the "
            "consumer reports nothing.",
        ),
        _Alarm(
            "stale_lake",
            "StaleLakeAlarm",
            stale,
            1,
            config.stale_lake_flush_intervals,
            _AT_LEAST,
            not_breaching,
            f"The producer produces but no object has reached the lake for {config.stale_lake_flush_intervals} "
            f"flush intervals ({config.flush_interval_seconds} s each).",
            (m.PRODUCER_RECORDS.name, m.CONSUMER_FILES.name),
            m.CLOUDWATCH_NAMESPACE,
        ),
        _service_alarm(
            "dead_letters",
            "DeadLetterAlarm",
            m.CONSUMER_DEAD_LETTERS,
            "Sum",
            DEAD_LETTER_WINDOW,
            config.dead_letter_alarm_count,
            1,
            _AT_LEAST,
            not_breaching,
            f"{config.dead_letter_alarm_count} or more dead letters in 5 minutes: messages that are not records "
            "reach the topic.",
        ),
        _service_alarm(
            "compactor_failures",
            "CompactorFailureAlarm",
            m.COMPACTOR_FAILURES,
            "Sum",
            COMPACTOR_WINDOW,
            config.compactor_failure_alarm_count,
            1,
            _AT_LEAST,
            not_breaching,
            f"{config.compactor_failure_alarm_count} or more compaction runs failed in an hour.",
        ),
        *(
            _Alarm(
                f"disk {path}",
                f"DiskAlarm{path.strip('/').replace('/', '-').title().replace('-', '')}",
                ec2_metric(HOST_DISK, Duration.minutes(5), HOST_NAMESPACE, path=path),
                config.disk_alarm_percent,
                2,
                _ABOVE,
                missing,
                f"The host's file system {path} is more than {config.disk_alarm_percent}% full.",
                (HOST_DISK,),
                HOST_NAMESPACE,
            )
            for path in WATCHED_PATHS
        ),
        _Alarm(
            "system status",
            "SystemStatusAlarm",
            ec2_metric("StatusCheckFailed_System", Duration.minutes(1)),
            1,
            2,
            _AT_LEAST,
            missing,
            "The host's system status check fails: EC2 recovers the instance onto healthy "
            "hardware, with its id, address and volumes.",
            ("StatusCheckFailed_System",),
            "AWS/EC2",
            recover=True,
        ),
        _Alarm(
            "instance status",
            "InstanceStatusAlarm",
            ec2_metric("StatusCheckFailed_Instance", Duration.minutes(1)),
            1,
            3,
            _AT_LEAST,
            missing,
            "The host's instance status check fails (its operating system does not answer).",
            ("StatusCheckFailed_Instance",),
            "AWS/EC2",
        ),
    ]
