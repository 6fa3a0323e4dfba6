#!/usr/bin/env bash
# Adds, lists and removes ACLs.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.AclCommand "$@"
