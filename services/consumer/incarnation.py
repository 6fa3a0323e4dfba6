"""A topic's incarnation: its id in Kafka, which changes when the topic or the whole cluster is created anew.

Offsets start at 0 again in a new incarnation, so a range `0-999` of partition 0 means different records in each.
Object names carry the incarnation (`naming.py`), and the consumer reconciles only the current one's ranges.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient

from services.consumer.naming import incarnation_of


class NoTopicId(Exception):
    """The broker gives the topic no id (Kafka before 2.8)."""


class Incarnations:
    """Describes topics through one admin client, kept for as long as its requests may be running (a client that is
    destroyed first fails its pending futures)."""

    def __init__(self, config: dict[str, Any]):
        self._admin = AdminClient(config)

    def of(self, topic: str, timeout: float = 30.0) -> str:
        """The topic's current incarnation, as `naming` spells it. Raises KafkaException when the broker does not
        answer or the topic does not exist."""
        futures = self._admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
        description = futures[topic].result(timeout)
        topic_id = description.topic_id
        if topic_id is None or (
            topic_id.get_most_significant_bits() == 0 and topic_id.get_least_significant_bits() == 0
        ):
            raise NoTopicId(f"the broker gives topic {topic!r} no id; the consumer needs Kafka 2.8 or newer")
        return incarnation_of(topic_id.get_most_significant_bits(), topic_id.get_least_significant_bits())


def topic_incarnation(config: dict[str, Any], topic: str, timeout: float = 30.0) -> str:
    """The incarnation of `topic` on the cluster `config` reaches (`bootstrap.servers` and security settings)."""
    return Incarnations(config).of(topic, timeout)
