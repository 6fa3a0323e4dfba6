#!/usr/bin/env bash
# The API versions each broker answers (the image's health check).
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
