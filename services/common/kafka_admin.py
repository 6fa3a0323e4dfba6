"""Applies the declared Kafka access (`core.kafka_access`): creates the topics, then the services' ACLs, as admin.

A one-shot program on the AWS host (a container run at every start) and on Amazon MSK (a Fargate task):
`python -m services.common.kafka_admin`, configured by `KAFKA_ACCESS_*` variables. The local broker of
`fitpipe kafka start --secure` applies the same declaration through `apply`.
"""

from __future__ import annotations

import sys
from typing import Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from core.kafka_access import AclEntry, acl_entries
from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, TOPIC
from services.common import logs
from services.common.settings import KafkaClientSettings, describe_error

_RESOURCES: Final = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_OPERATIONS: Final = {
    "read": AclOperation.READ,
    "write": AclOperation.WRITE,
    "describe_configs": AclOperation.DESCRIBE_CONFIGS,
}


def acl_binding(entry: AclEntry) -> AclBinding:
    """One declared ACL entry as the admin protocol takes it: a literal name, any host, allowed."""
    return AclBinding(
        _RESOURCES[entry.resource],
        entry.name,
        ResourcePatternType.LITERAL,
        entry.principal,
        "*",
        _OPERATIONS[entry.operation],
        AclPermissionType.ALLOW,
    )


def acl_bindings(
    topic: str = TOPIC, dead_letter_topic: str = DEAD_LETTER_TOPIC, group: str = CONSUMER_GROUP
) -> list[AclBinding]:
    """The declared ACLs of the services' users (`core.kafka_access.acl_entries`) as bindings."""
    return [acl_binding(entry) for entry in acl_entries(topic, dead_letter_topic, group)]


def apply(
    admin: AdminClient,
    topic: str = TOPIC,
    dead_letter_topic: str = DEAD_LETTER_TOPIC,
    group: str = CONSUMER_GROUP,
    partitions: int = 3,
    timeout: float = 30.0,
    acls: bool = True,
) -> None:
    """Create the data and dead-letter topics when missing, then the ACLs (creating an existing ACL is a no-op).
    Without `acls`, only the topics: Amazon MSK's IAM sign-in grants rights by IAM policy, not by ACL."""
    existing = admin.list_topics(timeout=timeout).topics
    wanted = [NewTopic(t, num_partitions=partitions) for t in (topic, dead_letter_topic) if t not in existing]
    for name, future in (admin.create_topics(wanted, operation_timeout=timeout) if wanted else {}).items():
        try:
            future.result(timeout=timeout + 5)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {name!r}: {exc.args[0].str()}") from exc
    if not acls:
        return
    for binding, future in admin.create_acls(acl_bindings(topic, dead_letter_topic, group)).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            raise RuntimeError(f"could not create the ACL {binding}: {exc.args[0].str()}") from exc


class AccessSettings(KafkaClientSettings):
    """The one-shot set-up on the host: the admin's connection, and the names the services use."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_ACCESS_", extra="forbid")

    bootstrap_servers: str = Field(min_length=1)
    topic: str = TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    group: str = CONSUMER_GROUP
    partitions: int = Field(3, ge=1, le=1000)
    acls: bool = Field(True, description="create the services' ACLs too (not on Amazon MSK, where IAM grants)")


#: The logger of the set-up's events.
LOGGER_NAME: Final = "services.kafka_admin"


def main() -> int:
    logs.configure(LOGGER_NAME)
    try:
        settings = AccessSettings()  # type: ignore[call-arg]  # from the environment
    except ValidationError as exc:
        print(f"kafka access: {describe_error(exc, 'KAFKA_ACCESS_')}", file=sys.stderr)
        return 2
    config = {"bootstrap.servers": settings.bootstrap_servers, **settings.kafka_security()}
    try:
        with AdminClient(config) as admin:  # destroyed on the way out, after its futures are done
            apply(
                admin,
                settings.topic,
                settings.dead_letter_topic,
                settings.group,
                settings.partitions,
                acls=settings.acls,
            )
    except (KafkaException, RuntimeError) as exc:
        print(f"kafka access: {exc}", file=sys.stderr)
        return 1
    event = "topics and the services' ACLs are in place" if settings.acls else "topics are in place"
    logs.EventLog(LOGGER_NAME).info(event, topic=settings.topic, dead_letter_topic=settings.dead_letter_topic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
