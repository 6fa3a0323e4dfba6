"""The deployment's settings: one typed, frozen value built from the CDK context (`cdk.json` or `cdk -c key=value`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

#: Time the consumer's last write of its open batches and its offset commit may take after a stop signal.
CONSUMER_WRITE_AND_COMMIT_SECONDS = 30
#: Time Kafka gets for a clean shutdown (its log flushed, the controller's snapshot written).
KAFKA_STOP_GRACE_SECONDS = 60
#: What systemd allows beyond the containers' own grace periods (compose itself, Docker's network teardown).
STOP_MARGIN_SECONDS = 30
#: The retention periods CloudWatch Logs accepts, in days.
#: Where Kafka runs: the one EC2 host (the default), or Amazon MSK with the services on ECS Fargate.
KAFKA_CHOICES = ("ec2", "msk-serverless", "msk-provisioned")
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class ConfigError(ValueError):
    """A context value that cannot be used; the message says which and what to pass instead."""


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Everything a deployment may change. Each field is read from the context key in its metadata."""

    #: EC2 instance type of the streaming host (x86_64 or Graviton; the AMI follows its architecture).
    instance_type: str = "t3.medium"
    #: Users the producer simulates, each sending one record per minute.
    simulated_users: int = 33
    #: Seconds the consumer buffers records before writing a file to the lake.
    flush_interval_seconds: int = 60
    #: Partitions of the Kafka topic.
    topic_partitions: int = 3
    #: Hours Kafka keeps records (the lake keeps them for good).
    topic_retention_hours: int = 168
    #: Delete the buckets and their data with the stack on `cdk destroy` (kept by default).
    destroy_data: bool = False
    #: NAT gateways; with 0 the host sits in a public subnet with no inbound access from the internet.
    nat_gateways: int = 0
    #: Athena stops a query in the workgroup once it has scanned this many gigabytes.
    query_cutoff_gb: int = 10
    #: Days the lake keeps an object's overwritten or deleted versions before they expire.
    lake_noncurrent_version_days: int = 30
    #: Days each daily snapshot of Kafka's data volume is kept.
    data_snapshot_retention_days: int = 7
    #: Raising it replaces the host (a new instance takes Kafka's data volume over), e.g. after a lost instance.
    host_generation: int = 1
    #: Minutes between two runs of the compactor, which folds new raw files into the curated Iceberg table.
    compact_every_minutes: int = 15
    #: Days the curated table keeps replaced snapshots, and unreferenced files, before Glue removes them.
    curated_retention_days: int = 1
    #: A CloudTrail trail records every read and write of the lake's objects (S3 data events).
    audit_trail: bool = True
    #: Days the services' logs stay in CloudWatch Logs (one of the retention periods CloudWatch offers).
    log_retention_days: int = 30
    #: An email address the alarms' SNS topic sends to (it must confirm the subscription); none when empty.
    alarm_email: str = ""
    #: Alarm when the oldest record not yet landed is older than this many seconds.
    lag_alarm_seconds: int = 900
    #: Alarm when the newest landed event is older than this many seconds (the producer runs live).
    freshness_alarm_seconds: int = 1800
    #: Alarm when no object reaches the lake for this many flush intervals while the producer produces.
    stale_lake_flush_intervals: int = 5
    #: Alarm when at least this many dead letters arrive within five minutes.
    dead_letter_alarm_count: int = 1
    #: Alarm when at least this many compaction runs fail within an hour.
    compactor_failure_alarm_count: int = 1
    #: Alarm when a file system of the host is fuller than this, in per cent.
    disk_alarm_percent: int = 80
    #: Where Kafka runs: `ec2` (one host runs Kafka and the services), `msk-serverless` or `msk-provisioned` (Amazon
    #: MSK with IAM sign-in; the services on ECS Fargate).
    kafka: str = "ec2"
    #: With msk-provisioned: the brokers' instance type (three brokers, one per availability zone).
    msk_broker_type: str = "express.m7g.large"
    #: With msk-provisioned: the Kafka version of the cluster (Express brokers run 3.6 and newer).
    msk_kafka_version: str = "3.8.x"
    #: With MSK: the consumer's tasks at the start; scaling on lag keeps them between 1 and the topic's partitions.
    consumer_tasks: int = 2

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", self.instance_type):
            raise ConfigError(f"instanceType {self.instance_type!r} is not an EC2 instance type such as t3.medium")
        limits = {
            "simulated_users": (1, 100_000),
            "flush_interval_seconds": (1, 3600),
            "topic_partitions": (1, 1000),
            "topic_retention_hours": (1, 24 * 365),
            "nat_gateways": (0, 3),
            "query_cutoff_gb": (1, 1_000_000),
            "lake_noncurrent_version_days": (1, 3650),
            "data_snapshot_retention_days": (1, 365),
            "host_generation": (1, 1_000_000),
            "compact_every_minutes": (1, 24 * 60),
            "curated_retention_days": (1, 365),
            "lag_alarm_seconds": (60, 7 * 86400),
            "freshness_alarm_seconds": (60, 7 * 86400),
            "stale_lake_flush_intervals": (2, 100),
            "dead_letter_alarm_count": (1, 1_000_000),
            "compactor_failure_alarm_count": (1, 1000),
            "disk_alarm_percent": (10, 99),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{_CONTEXT_KEYS[name]} must be between {low} and {high}, got {value}")
        if self.kafka not in KAFKA_CHOICES:
            raise ConfigError(f"kafka must be one of {', '.join(KAFKA_CHOICES)}, got {self.kafka!r}")
        if not re.fullmatch(r"(kafka|express)\.[a-z0-9]+\.[a-z0-9]+", self.msk_broker_type):
            raise ConfigError(
                f"mskBrokerType {self.msk_broker_type!r} is not an MSK broker type such as express.m7g.large or "
                "kafka.m7g.large"
            )
        if not re.fullmatch(r"\d+\.\d+\.(\d+|x)(\.kraft)?", self.msk_kafka_version):
            raise ConfigError(f"mskKafkaVersion {self.msk_kafka_version!r} is not a version such as 3.8.x")
        if self.msk and not 1 <= self.consumer_tasks <= self.topic_partitions:
            raise ConfigError(
                f"consumerTasks must be between 1 and topicPartitions ({self.topic_partitions}): a task beyond the "
                f"partitions would sit idle, got {self.consumer_tasks}"
            )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigError(
                f"logRetentionDays must be one of CloudWatch's periods ({', '.join(map(str, LOG_RETENTION_DAYS))}), "
                f"got {self.log_retention_days}"
            )
        if self.alarm_email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email):
            raise ConfigError(f"alarmEmail {self.alarm_email!r} is not an email address such as ops@example.com")

    @property
    def msk(self) -> bool:
        """Kafka is Amazon MSK and the services run on ECS Fargate."""
        return self.kafka != "ec2"

    @property
    def consumer_stop_grace_seconds(self) -> int:
        """How long the consumer may take to stop: a whole flush interval of open batches, then their write and
        the commit. Compose waits this long before it kills the container."""
        return self.flush_interval_seconds + CONSUMER_WRITE_AND_COMMIT_SECONDS

    @property
    def host_stop_timeout_seconds(self) -> int:
        """How long systemd lets the pipeline stop: compose stops the producer and the consumer first, then Kafka."""
        return self.consumer_stop_grace_seconds + KAFKA_STOP_GRACE_SECONDS + STOP_MARGIN_SECONDS

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> PipelineConfig:
        """Build the config from a context getter such as `app.node.try_get_context`; absent keys keep defaults."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = get(_CONTEXT_KEYS[field.name])
            if raw is not None:
                values[field.name] = _coerce(_CONTEXT_KEYS[field.name], raw, field.default)
        return cls(**values)


#: The context key of each field: the field name in camelCase, as CDK context keys are written.
_CONTEXT_KEYS = {f.name: re.sub(r"_(\w)", lambda m: m.group(1).upper(), f.name) for f in fields(PipelineConfig)}


def context_keys() -> dict[str, str]:
    """Field name to context key, for documentation and tests."""
    return dict(_CONTEXT_KEYS)


def _coerce(key: str, raw: Any, default: Any) -> Any:
    """Context from `cdk.json` keeps its JSON type; from `-c key=value` it is a string. Accept both."""
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    if isinstance(default, int):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        raise ConfigError(f"{key} must be a whole number, got {raw!r}")
    if not isinstance(raw, str):
        raise ConfigError(f"{key} must be a string, got {raw!r}")
    return raw
