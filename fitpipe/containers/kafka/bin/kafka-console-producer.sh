#!/usr/bin/env bash
# Writes lines of standard input to a topic.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.ConsoleProducer "$@"
