"""The deployment's settings: one typed, frozen model built from the CDK context (`cdk.json` or `cdk -c key=value`).

Each field is one setting: its type, default, allowed values and help, read from the context key that is its name in
camelCase. A value that cannot be used raises `ConfigError` with one line that names the key and what it allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

#: Time the consumer's last write of its open batches and its offset commit may take after a stop signal.
CONSUMER_WRITE_AND_COMMIT_SECONDS = 30
#: Time Kafka gets for a clean shutdown (its log flushed, the controller's snapshot written).
KAFKA_STOP_GRACE_SECONDS = 60
#: What systemd allows beyond the containers' own grace periods (compose itself, Docker's network teardown).
STOP_MARGIN_SECONDS = 30

#: Days the audit trail's log files are kept; their Object Lock cannot outlast them.
AUDIT_LOG_DAYS = 2 * 365
#: Where Kafka runs: the one EC2 host (the default), or Amazon MSK with the services on ECS Fargate.
Kafka = Literal["ec2", "msk-serverless", "msk-provisioned"]
#: The retention periods CloudWatch Logs accepts, in days.
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
]


class ConfigError(ValueError):
    """A context value that cannot be used; the message says which and what to pass instead."""


def _shaped(pattern: str, what: str) -> AfterValidator:
    """A string that must match `pattern` whole; `what` names such a string, with an example, in the error."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError("shape", "{value} is not {what}", {"value": repr(value), "what": what})
        return value

    return AfterValidator(check)


InstanceType = Annotated[str, _shaped(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type such as t3.medium")]
MskBrokerType = Annotated[
    str,
    _shaped(
        r"(kafka|express)\.[a-z0-9]+\.[a-z0-9]+",
        "an MSK broker type such as express.m7g.large or kafka.m7g.large",
    ),
]
KafkaVersion = Annotated[str, _shaped(r"\d+\.\d+\.(\d+|x)(\.kraft)?", "a version such as 3.8.x")]
EmailOrEmpty = Annotated[str, _shaped(r"|[^@\s]+@[^@\s]+\.[^@\s]+", "an email address such as ops@example.com")]
WEEK_SECONDS = 7 * 86400


class PipelineConfig(BaseModel):
    """Everything a deployment may change."""

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    instance_type: InstanceType = Field(
        "t3.medium", description="EC2 instance type of the streaming host (x86_64 or Graviton; the AMI follows it)."
    )
    simulated_users: int = Field(33, ge=1, le=100_000, description="Users the producer simulates, a record a minute.")
    flush_interval_seconds: int = Field(
        60, ge=1, le=3600, description="Seconds the consumer buffers records before writing a file to the lake."
    )
    topic_partitions: int = Field(3, ge=1, le=1000, description="Partitions of the Kafka topic.")
    topic_retention_hours: int = Field(
        168, ge=1, le=24 * 365, description="Hours Kafka keeps records (the lake keeps them for good)."
    )
    destroy_data: bool = Field(
        False, description="Delete the buckets and their data with the stack on `cdk destroy` (kept by default)."
    )
    nat_gateways: int = Field(
        0, ge=0, le=3, description="NAT gateways; with 0 the host sits in a public subnet with no inbound access."
    )
    query_cutoff_gb: int = Field(
        10, ge=1, le=1_000_000, description="Athena stops a query once it has scanned this many gigabytes."
    )
    duckdb_workgroup: bool = Field(
        False,
        description="Also a second Athena workgroup on the DuckDB engine (a preview in a few regions), with the "
        "named queries translated to DuckDB's dialect; the Trino (engine version 3) workgroup stays the default.",
    )
    lake_noncurrent_version_days: int = Field(
        30, ge=1, le=3650, description="Days the lake keeps overwritten or deleted versions before they expire."
    )
    data_snapshot_retention_days: int = Field(
        7, ge=1, le=365, description="Days each daily snapshot of Kafka's data volume is kept."
    )
    host_generation: int = Field(
        1, ge=1, le=1_000_000, description="Raising it replaces the host; the new one takes Kafka's data volume over."
    )
    compact_every_minutes: int = Field(
        15, ge=1, le=24 * 60, description="Minutes between two runs of the compactor into the curated Iceberg table."
    )
    curated_retention_days: int = Field(
        1, ge=1, le=365, description="Days the curated table keeps replaced snapshots and unreferenced files."
    )
    audit_trail: bool = Field(
        True, description="A CloudTrail trail records every read and write of the lake's and the query results' data."
    )
    audit_lock_days: int = Field(
        365,
        ge=1,
        le=AUDIT_LOG_DAYS,
        description="Days Object Lock (governance mode) keeps each audit log file from being deleted or overwritten; "
        "no lock with destroyData, whose deletes it would refuse.",
    )
    lake_object_lock: bool = Field(
        False,
        description="Object Lock in governance mode on the lake bucket: no version of a lake object can be deleted "
        "for lakeObjectLockDays (README: what it costs in deletes).",
    )
    lake_object_lock_days: int = Field(
        30, ge=1, le=3650, description="With lakeObjectLock: days each version of a lake object stays locked."
    )
    log_retention_days: LogRetentionDays = Field(
        30, description="Days the services' logs stay in CloudWatch Logs (one of the periods CloudWatch offers)."
    )
    alarm_email: EmailOrEmpty = Field(
        "", description="An email address the alarms' SNS topic sends to (it must confirm); none when empty."
    )
    lag_alarm_seconds: int = Field(
        900, ge=60, le=WEEK_SECONDS, description="Alarm when the oldest record not yet landed is older than this."
    )
    freshness_alarm_seconds: int = Field(
        1800, ge=60, le=WEEK_SECONDS, description="Alarm when the newest landed event is older than this."
    )
    stale_lake_flush_intervals: int = Field(
        5, ge=2, le=100, description="Alarm when no object lands for this many flush intervals while producing."
    )
    dead_letter_alarm_count: int = Field(
        1, ge=1, le=1_000_000, description="Alarm when this many dead letters arrive within five minutes."
    )
    compactor_failure_alarm_count: int = Field(
        1, ge=1, le=1000, description="Alarm when this many compaction runs fail within an hour."
    )
    disk_alarm_percent: int = Field(
        80, ge=10, le=99, description="Alarm when a file system of the host is fuller than this, in per cent."
    )
    kafka: Kafka = Field(
        "ec2",
        description="Where Kafka runs: `ec2` (one host runs Kafka and the services), `msk-serverless` or "
        "`msk-provisioned` (Amazon MSK with IAM sign-in; the services on ECS Fargate).",
    )
    msk_broker_type: MskBrokerType = Field(
        "express.m7g.large", description="With msk-provisioned: the brokers' instance type (three brokers)."
    )
    msk_kafka_version: KafkaVersion = Field(
        "3.8.x", description="With msk-provisioned: the cluster's Kafka version (Express brokers run 3.6 and newer)."
    )
    consumer_tasks: int = Field(
        2, description="With MSK: the consumer's tasks at the start; scaling on lag keeps them within the partitions."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(error) for error in exc.errors())) from None

    @field_validator("*", mode="before")
    @classmethod
    def _from_cli_string(cls, value: Any, info: Any) -> Any:
        """Context from `cdk.json` keeps its JSON type; from `-c key=value` it is a string. Accept both."""
        default = cls.model_fields[info.field_name].default
        if not isinstance(value, str) or not isinstance(default, int):
            return value
        text = value.strip()
        if isinstance(default, bool):
            return {"true": True, "false": False}.get(text.lower(), value)
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else value

    @model_validator(mode="after")
    def _consumer_tasks_fit_the_partitions(self) -> PipelineConfig:
        if self.msk and not 1 <= self.consumer_tasks <= self.topic_partitions:
            raise PydanticCustomError(
                "consumer_tasks",
                "consumerTasks must be between 1 and topicPartitions ({partitions}): a task beyond the partitions "
                "would sit idle, got {tasks}",
                {"partitions": self.topic_partitions, "tasks": self.consumer_tasks},
            )
        return self

    @model_validator(mode="after")
    def _locked_lake_is_not_destroyed(self) -> PipelineConfig:
        if self.lake_object_lock and self.destroy_data:
            raise PydanticCustomError(
                "lake_object_lock",
                "lakeObjectLock and destroyData exclude each other: `cdk destroy` could not delete the locked "
                "versions of the lake's objects; pass one of them",
                {},
            )
        return self

    @property
    def audit_lock(self) -> int | None:
        """Days the audit bucket's Object Lock keeps each log file; None (no lock) when the data may be destroyed."""
        return None if self.destroy_data else self.audit_lock_days

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
        found = {key: get(key) for key in context_keys().values()}
        return cls(**{key: value for key, value in found.items() if value is not None})


def context_keys() -> dict[str, str]:
    """Field name to context key, for documentation and tests."""
    return {name: field.alias or name for name, field in PipelineConfig.model_fields.items()}


def _explain(error: Any) -> str:
    """One pydantic error as a sentence that names the context key and what it allows."""
    if not error["loc"]:  # the model's own check, whose message names the keys
        return str(error["msg"])
    key, value, kind = to_camel(str(error["loc"][0])), error["input"], error["type"]
    field = next((f for f in PipelineConfig.model_fields.values() if f.alias == key), None)
    if kind in ("int_type", "int_parsing"):
        return f"{key} must be a whole number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{key} must be true or false, got {value!r}"
    if kind == "string_type":
        return f"{key} must be a string, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal") and field is not None:
        low = next(m.ge for m in field.metadata if isinstance(m, Ge))
        high = next(m.le for m in field.metadata if isinstance(m, Le))
        return f"{key} must be between {low} and {high}, got {value}"
    if kind == "literal_error" and field is not None:
        return f"{key} must be one of {', '.join(map(str, get_args(field.annotation)))}, got {value!r}"
    if kind == "shape":
        return f"{key} {error['msg']}"
    if kind == "extra_forbidden":
        return f"{key} is not a setting"
    return f"{key}: {error['msg']}"
