"""Who may do what on the brokers: one Kafka user per service, and the ACLs that are all it may do, as plain data.

The brokers deny whatever no ACL allows (`allow.everyone.if.no.acl.found=false`). The same declaration is applied
(by `services.common.kafka_admin`) to the local broker of `fitpipe kafka start --secure` and, at every start, to the
AWS host's broker (by a one-shot container, `python -m services.common.kafka_admin`), so the tests prove the host's
rights; the CDK app makes one secret per user from it.

- producer: write the data topic (which lets it see the topic's metadata, and since Kafka 3.0 produce idempotently);
- consumer: read the data topic, read (join and commit in) its group, write the dead-letter topic and read that
  topic's configuration (`DESCRIBE_CONFIGS`: its `max.message.bytes`, to which dead letters are cut);
- admin: the brokers' own identity (a super user), which also creates the topics and these ACLs.

Nobody else gets anything: the producer cannot read, the consumer cannot write the data topic, and neither can
create or delete a topic. Other services (the compactor) read the lake, not Kafka, and have no Kafka user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from core.names import CONSUMER_GROUP, DEAD_LETTER_TOPIC, TOPIC

ADMIN_USER: Final = "admin"
PRODUCER_USER: Final = "producer"
CONSUMER_USER: Final = "consumer"
#: Every Kafka user, each created with its own password when the brokers' storage is formatted.
USERS: Final = (ADMIN_USER, PRODUCER_USER, CONSUMER_USER)


def principal(user: str) -> str:
    return f"User:{user}"


@dataclass(frozen=True, slots=True)
class AclEntry:
    """Allow `user` the `operation` on the `resource` (a topic or a group) of this literal name, from any host."""

    user: str
    resource: Literal["topic", "group"]
    name: str
    operation: Literal["read", "write", "describe_configs"]

    @property
    def principal(self) -> str:
        return principal(self.user)


def acl_entries(
    topic: str = TOPIC, dead_letter_topic: str = DEAD_LETTER_TOPIC, group: str = CONSUMER_GROUP
) -> list[AclEntry]:
    """The ACLs of the services' users, each on a literal name (no prefixes, no wildcards)."""
    return [
        AclEntry(PRODUCER_USER, "topic", topic, "write"),
        AclEntry(CONSUMER_USER, "topic", topic, "read"),
        AclEntry(CONSUMER_USER, "group", group, "read"),
        AclEntry(CONSUMER_USER, "topic", dead_letter_topic, "write"),
        AclEntry(CONSUMER_USER, "topic", dead_letter_topic, "describe_configs"),
    ]
