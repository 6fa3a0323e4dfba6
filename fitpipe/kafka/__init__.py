"""A real Apache Kafka broker (KRaft, one combined broker and controller) for local runs and tests."""

from fitpipe.kafka.broker import LocalBroker, kafka_version

__all__ = ["LocalBroker", "kafka_version"]
