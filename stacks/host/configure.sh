#!/bin/bash
# The portable part of the streaming host's set-up, which needs no particular distribution or init system: make
# Kafka's TLS material and publish the CA's certificate, read the Kafka users' passwords from Secrets Manager, and
# write the environment file compose reads. `fitness-pipeline up` (the unit's start and reload) then brings the
# containers up on it.
#
#   configure.sh ADVERTISED_NAME ADVERTISED_ADDRESS
#
# ADVERTISED_NAME and ADVERTISED_ADDRESS are the name Kafka advertises to the VPC and the address it is reached at
# (on EC2, the instance's private DNS name and address): the names its TLS certificate holds. The settings come from
# the stack, in $FITNESS_PIPELINE_CONFIG_DIR/stack.env (default /etc/fitness-pipeline); Kafka's data is under
# $FITNESS_PIPELINE_DATA_DIR (default /var/lib/fitness-pipeline, the data volume's mount point). The AWS CLI finds
# its credentials and endpoints as usual (on the host, the instance role). Safe to run any number of times: the TLS
# material is made once and kept.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 ADVERTISED_NAME ADVERTISED_ADDRESS" >&2
  exit 2
fi
advertised_name=$1 advertised_address=$2

readonly CONFIG_DIR=${FITNESS_PIPELINE_CONFIG_DIR:-/etc/fitness-pipeline}
readonly DATA_DIR=${FITNESS_PIPELINE_DATA_DIR:-/var/lib/fitness-pipeline}
HOST_FILES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HOST_FILES
# shellcheck source=/dev/null
. "$CONFIG_DIR/stack.env"
: "${AWS_REGION:?}" "${LAKE_BUCKET:?}" "${KAFKA_CA_PARAMETER:?}"
: "${TOPIC:?}" "${DEAD_LETTER_TOPIC:?}" "${CONSUMER_GROUP:?}" "${SIMULATED_USERS:?}" "${FLUSH_INTERVAL_S:?}"
: "${TOPIC_PARTITIONS:?}" "${TOPIC_RETENTION_HOURS:?}"
: "${CONSUMER_STOP_GRACE_S:?}" "${KAFKA_STOP_GRACE_S:?}" "${COMPACT_EVERY_MINUTES:?}"
: "${KAFKA_ADMIN_SECRET:?}" "${KAFKA_PRODUCER_SECRET:?}" "${KAFKA_CONSUMER_SECRET:?}"
: "${KAFKA_LOG_GROUP:?}" "${PRODUCER_LOG_GROUP:?}" "${CONSUMER_LOG_GROUP:?}" "${COMPACTOR_LOG_GROUP:?}"
: "${PRODUCER_METRICS_PORT:?}" "${CONSUMER_METRICS_PORT:?}" "${COMPACTOR_METRICS_PORT:?}"

readonly KAFKA_TLS_DIR=$CONFIG_DIR/tls # on the encrypted root volume; root only
readonly KAFKA_UID=1000                # the apache/kafka image runs as appuser, uid 1000

install -d -m 0750 "$CONFIG_DIR"

# Kafka's TLS listener, made once per host: a private CA, made here and never leaving the host (its key is deleted
# once it has signed), and the broker's certificate for the advertised name and address. Only the broker's keystore
# is mounted into the Kafka container, read-only, owned by the container's user; the folder itself is root's alone.
if [ ! -s "$KAFKA_TLS_DIR/broker.pem" ]; then
  bash "$HOST_FILES/kafka-tls.sh" "$KAFKA_TLS_DIR" "$advertised_name" "$advertised_address"
  chown "$KAFKA_UID:$KAFKA_UID" "$KAFKA_TLS_DIR/broker.pem"
  chmod 0400 "$KAFKA_TLS_DIR/broker.pem"
fi
# Clients in the VPC trust the broker through the CA's certificate (public; no key), published in the parameter the
# stack names and lets this host's role write, and nothing else.
aws ssm put-parameter --region "$AWS_REGION" --name "$KAFKA_CA_PARAMETER" --type String --overwrite \
  --description "CA certificate of the fitness pipeline's Kafka TLS listener (port 9092)" \
  --value "file://$KAFKA_TLS_DIR/ca.pem" >/dev/null

# Kafka's users, one per service: their passwords were generated at deploy into Secrets Manager (encrypted with the
# streaming key) and the instance role may read these three secrets only. They go into the root-only environment
# file, from which compose gives each container its own user's password (the broker the admin's).
kafka_password() {
  aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" --query SecretString --output text |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["password"])'
}
kafka_admin_password=$(kafka_password "$KAFKA_ADMIN_SECRET")
kafka_producer_password=$(kafka_password "$KAFKA_PRODUCER_SECRET")
kafka_consumer_password=$(kafka_password "$KAFKA_CONSUMER_SECRET")

# What compose reads. The cluster id is not here: it lives on the data volume (cluster.env), with the data it names.
umask 077
cat >"$CONFIG_DIR/pipeline.env.new" <<ENV
KAFKA_ADVERTISED_HOST=$advertised_name
KAFKA_DATA_DIR=$DATA_DIR/kafka
KAFKA_TLS_DIR=$KAFKA_TLS_DIR
AWS_REGION=$AWS_REGION
LAKE_BUCKET=$LAKE_BUCKET
TOPIC=$TOPIC
DEAD_LETTER_TOPIC=$DEAD_LETTER_TOPIC
CONSUMER_GROUP=$CONSUMER_GROUP
SIMULATED_USERS=$SIMULATED_USERS
FLUSH_INTERVAL_S=$FLUSH_INTERVAL_S
TOPIC_PARTITIONS=$TOPIC_PARTITIONS
TOPIC_RETENTION_HOURS=$TOPIC_RETENTION_HOURS
CONSUMER_STOP_GRACE_S=$CONSUMER_STOP_GRACE_S
KAFKA_STOP_GRACE_S=$KAFKA_STOP_GRACE_S
KAFKA_ADMIN_PASSWORD=$kafka_admin_password
KAFKA_PRODUCER_PASSWORD=$kafka_producer_password
KAFKA_CONSUMER_PASSWORD=$kafka_consumer_password
KAFKA_LOG_GROUP=$KAFKA_LOG_GROUP
PRODUCER_LOG_GROUP=$PRODUCER_LOG_GROUP
CONSUMER_LOG_GROUP=$CONSUMER_LOG_GROUP
COMPACTOR_LOG_GROUP=$COMPACTOR_LOG_GROUP
PRODUCER_METRICS_PORT=$PRODUCER_METRICS_PORT
CONSUMER_METRICS_PORT=$CONSUMER_METRICS_PORT
COMPACTOR_METRICS_PORT=$COMPACTOR_METRICS_PORT
COMPACT_EVERY_S=$((COMPACT_EVERY_MINUTES * 60))
ENV
chmod 0600 "$CONFIG_DIR/pipeline.env.new"
mv "$CONFIG_DIR/pipeline.env.new" "$CONFIG_DIR/pipeline.env"
umask 022
echo "the pipeline's settings are in $CONFIG_DIR/pipeline.env (Kafka advertised as $advertised_name)"
