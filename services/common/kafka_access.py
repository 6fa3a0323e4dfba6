"""Who may do what on the brokers: one Kafka user per service, and the ACLs that are all it may do.

The brokers deny whatever no ACL allows (`allow.everyone.if.no.acl.found=false`). The same declaration is applied
to the local broker of `fitpipe kafka start --secure` and, at every start, to the AWS host's broker (by a one-shot
container, `python -m services.common.kafka_access`), so the tests prove the host's rights.

- producer: write the data topic (which lets it see the topic's metadata, and since Kafka 3.0 produce idempotently);
- consumer: read the data topic, read (join and commit in) its group, write the dead-letter topic;
- admin: the brokers' own identity (a super user), which also creates the topics and these ACLs.

Nobody else gets anything: the producer cannot read, the consumer cannot write the data topic, and neither can
create or delete a topic. Other services (the compactor) read the lake, not Kafka, and have no Kafka user.
"""

from __future__ import annotations

import logging
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

from services.common.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, TOPIC
from services.common.settings import KafkaClientSettings, describe_error

ADMIN_USER: Final = "admin"
PRODUCER_USER: Final = "producer"
CONSUMER_USER: Final = "consumer"
#: Every Kafka user, each created with its own password when the brokers' storage is formatted.
USERS: Final = (ADMIN_USER, PRODUCER_USER, CONSUMER_USER)


def principal(user: str) -> str:
    return f"User:{user}"


def acl_bindings(topic: str = TOPIC, dead_letter_topic: str = DEAD_LETTER_TOPIC, group: str = CONSUMER_GROUP):
    """The ACLs of the services' users, each on a literal name (no prefixes, no wildcards)."""

    def allow(user: str, kind: ResourceType, name: str, operation: AclOperation) -> AclBinding:
        return AclBinding(
            kind, name, ResourcePatternType.LITERAL, principal(user), "*", operation, AclPermissionType.ALLOW
        )

    return [
        allow(PRODUCER_USER, ResourceType.TOPIC, topic, AclOperation.WRITE),
        allow(CONSUMER_USER, ResourceType.TOPIC, topic, AclOperation.READ),
        allow(CONSUMER_USER, ResourceType.GROUP, group, AclOperation.READ),
        allow(CONSUMER_USER, ResourceType.TOPIC, dead_letter_topic, AclOperation.WRITE),
    ]


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


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = AccessSettings()  # type: ignore[call-arg]  # from the environment
    except ValidationError as exc:
        print(f"kafka access: {describe_error(exc, 'KAFKA_ACCESS_')}", file=sys.stderr)
        return 2
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, **settings.kafka_security()})
    try:
        apply(
            admin, settings.topic, settings.dead_letter_topic, settings.group, settings.partitions, acls=settings.acls
        )
    except (KafkaException, RuntimeError) as exc:
        print(f"kafka access: {exc}", file=sys.stderr)
        return 1
    what = "and the services' ACLs are" if settings.acls else "are"
    logging.info("topics %s, %s %s in place", settings.topic, settings.dead_letter_topic, what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
