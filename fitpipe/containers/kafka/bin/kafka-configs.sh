#!/usr/bin/env bash
# Reads and changes dynamic configurations, SCRAM credentials among them.
exec /opt/kafka/bin/kafka-run-class.sh kafka.admin.ConfigCommand "$@"
