"""A real Apache Kafka broker (KRaft, one combined broker and controller), or a cluster of three, for local runs
and tests."""

from fitpipe.kafka.broker import LocalBroker, LocalCluster, kafka_version, running_broker

__all__ = ["LocalBroker", "LocalCluster", "kafka_version", "running_broker"]
