#!/usr/bin/env bash
# Describes the KRaft quorum.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.MetadataQuorumCommand "$@"
