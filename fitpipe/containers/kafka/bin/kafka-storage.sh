#!/usr/bin/env bash
# Formats the storage, prints a cluster id, adds SCRAM users at format time.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
