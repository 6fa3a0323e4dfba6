#!/bin/bash
# The streaming host's set-up: install Docker with the Compose and Buildx plugins, fetch the services' source, make
# Kafka's TLS certificates and publish the CA's, read the Kafka users' passwords from Secrets Manager, write the
# pipeline's settings, and bring Kafka, the producer, the consumer and the compactor up under systemd on Kafka's data
# volume.
#
# cfn-init runs it at first boot, and cfn-hup runs it again whenever a deploy changes the instance's metadata (the
# source, this script or a setting), so it is safe to run any number of times: it installs what is missing, keeps
# the TLS material and Kafka's data, and `docker compose up` recreates only the containers whose image or settings
# changed. The settings come from the stack, in /etc/fitness-pipeline/stack.env.
set -euo pipefail

readonly CONFIG_DIR=/etc/fitness-pipeline
# shellcheck source=/dev/null
. "$CONFIG_DIR/stack.env"
: "${AWS_REGION:?}" "${SOURCE_URL:?}" "${LAKE_BUCKET:?}" "${DATA_VOLUME_ID:?}" "${KAFKA_CA_PARAMETER:?}"
: "${TOPIC:?}" "${DEAD_LETTER_TOPIC:?}" "${CONSUMER_GROUP:?}" "${SIMULATED_USERS:?}" "${FLUSH_INTERVAL_S:?}"
: "${TOPIC_PARTITIONS:?}" "${TOPIC_RETENTION_HOURS:?}"
: "${CONSUMER_STOP_GRACE_S:?}" "${KAFKA_STOP_GRACE_S:?}" "${PIPELINE_STOP_TIMEOUT_S:?}" "${COMPACT_EVERY_MINUTES:?}"
: "${KAFKA_ADMIN_SECRET:?}" "${KAFKA_PRODUCER_SECRET:?}" "${KAFKA_CONSUMER_SECRET:?}"
: "${KAFKA_LOG_GROUP:?}" "${PRODUCER_LOG_GROUP:?}" "${CONSUMER_LOG_GROUP:?}" "${COMPACTOR_LOG_GROUP:?}"
: "${PRODUCER_METRICS_PORT:?}" "${CONSUMER_METRICS_PORT:?}" "${COMPACTOR_METRICS_PORT:?}"
: "${CW_AGENT_CONFIG_PARAMETER:?}" "${CW_SCRAPE_CONFIG_PARAMETER:?}"

readonly COMPOSE_VERSION=v2.40.3
readonly BUILDX_VERSION=v0.29.1
readonly APP_DIR=/opt/fitness-pipeline
readonly HOST_FILES=$APP_DIR/stacks/host
# The mount point of Kafka's data volume (kafka-data.sh): Kafka's log, offsets, dead letters and the cluster id.
readonly DATA_DIR=/var/lib/fitness-pipeline
readonly KAFKA_TLS_DIR=$CONFIG_DIR/tls # on the encrypted root volume; root only
readonly KAFKA_UID=1000                # the apache/kafka image runs as appuser, uid 1000
readonly SETTLE_SECONDS=60
# The consumer's and the compactor's fixed addresses on the containers' network (compose.yaml): the only ones that
# may reach IMDS.
readonly CONSUMER_ADDRESS=172.28.0.12
readonly COMPACTOR_ADDRESS=172.28.0.13

# Download a file and check it against the SHA-256 its release publishes.
fetch_verified() {
  local url=$1 checksums_url=$2 name=$3 target=$4 expected
  curl --fail --silent --show-error --location --retry 5 --output "$target" "$url"
  expected=$(curl --fail --silent --show-error --location --retry 5 "$checksums_url" |
    awk -v name="$name" '{ file = $2; sub(/^\*/, "", file) } file == name || NF == 1 { print $1; exit }')
  if [ -z "$expected" ]; then
    echo "no checksum for $name at $checksums_url" >&2
    return 1
  fi
  echo "$expected  $target" | sha256sum --check --strict
}

# A Docker CLI plugin at the wanted version: downloaded (and verified) only when it is missing or another version.
install_plugin() {
  local name=$1 version=$2 url=$3 checksums_url=$4 asset=$5 plugin
  plugin=/usr/local/lib/docker/cli-plugins/docker-$name
  if [ -x "$plugin" ] && "$plugin" "$name" version 2>/dev/null | grep -q -- "${version#v}"; then
    return 0
  fi
  fetch_verified "$url" "$checksums_url" "$asset" "$plugin.download"
  chmod 0755 "$plugin.download"
  mv "$plugin.download" "$plugin"
}

dnf install -y docker iptables-nft openssl unzip amazon-cloudwatch-agent

# The CloudWatch agent: the host's memory and disk, and the services' Prometheus metrics, configured (again, after a
# deploy that changes them) from the two parameters the stack writes.
cw_agent=/opt/aws/amazon-cloudwatch-agent
aws ssm get-parameter --region "$AWS_REGION" --name "$CW_SCRAPE_CONFIG_PARAMETER" --query Parameter.Value \
  --output text >"$cw_agent/etc/prometheus.yaml"
"$cw_agent/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s -c "ssm:$CW_AGENT_CONFIG_PARAMETER"

case "$(uname -m)" in
  x86_64) compose_arch=x86_64 buildx_arch=amd64 ;;
  aarch64) compose_arch=aarch64 buildx_arch=arm64 ;;
  *)
    echo "unsupported architecture $(uname -m)" >&2
    exit 1
    ;;
esac
install -d -m 0755 /usr/local/lib/docker/cli-plugins
compose_release="https://github.com/docker/compose/releases/download/$COMPOSE_VERSION"
install_plugin compose "$COMPOSE_VERSION" "$compose_release/docker-compose-linux-$compose_arch" \
  "$compose_release/docker-compose-linux-$compose_arch.sha256" "docker-compose-linux-$compose_arch"
buildx_release="https://github.com/docker/buildx/releases/download/$BUILDX_VERSION"
install_plugin buildx "$BUILDX_VERSION" "$buildx_release/buildx-$BUILDX_VERSION.linux-$buildx_arch" \
  "$buildx_release/checksums.txt" "buildx-$BUILDX_VERSION.linux-$buildx_arch"
systemctl enable --now docker.service

# The services' source: the stack's asset of the repository (pyproject.toml, README.md, .dockerignore, core/,
# services/, stacks/host/), unpacked beside the running copy and swapped in whole, so no file of an older source lingers.
work=$(mktemp -d)
aws s3 cp --region "$AWS_REGION" --only-show-errors "$SOURCE_URL" "$work/source.zip"
rm -rf "$APP_DIR.next"
install -d -m 0755 "$APP_DIR.next"
unzip -q "$work/source.zip" -d "$APP_DIR.next"
rm -rf "$work" "$APP_DIR"
mv "$APP_DIR.next" "$APP_DIR"

install -d -m 0750 "$CONFIG_DIR"

# The instance's private DNS name, which Kafka advertises to the VPC, and its private address: the names its TLS
# certificate holds (IMDSv2: a session token first).
imds_token=$(curl --fail --silent --show-error --request PUT "http://169.254.169.254/latest/api/token" \
  --header "X-aws-ec2-metadata-token-ttl-seconds: 300")
private_dns=$(curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: $imds_token" \
  "http://169.254.169.254/latest/meta-data/local-hostname")
private_ip=$(curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: $imds_token" \
  "http://169.254.169.254/latest/meta-data/local-ipv4")

# Kafka's TLS listener, made once per host: a private CA, made here and never leaving the host (its key is deleted
# once it has signed), and the broker's certificate for the private DNS name and address. Only the broker's keystore
# is mounted into the Kafka container, read-only, owned by the container's user; the folder itself is root's alone.
if [ ! -s "$KAFKA_TLS_DIR/broker.pem" ]; then
  bash "$HOST_FILES/kafka-tls.sh" "$KAFKA_TLS_DIR" "$private_dns" "$private_ip"
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
cat >"$CONFIG_DIR/pipeline.env" <<ENV
KAFKA_ADVERTISED_HOST=$private_dns
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
chmod 0600 "$CONFIG_DIR/pipeline.env"
printf 'CONSUMER_ADDRESS=%s\nCOMPACTOR_ADDRESS=%s\n' "$CONSUMER_ADDRESS" "$COMPACTOR_ADDRESS" >"$CONFIG_DIR/imds-guard.env"
umask 022

install -m 0755 "$HOST_FILES/fitness-pipeline" /usr/local/bin/fitness-pipeline
install -m 0755 "$HOST_FILES/imds-guard.sh" /usr/local/sbin/fitness-pipeline-imds-guard
install -m 0755 "$HOST_FILES/kafka-data.sh" /usr/local/sbin/fitness-pipeline-data
install -m 0644 "$HOST_FILES/fitness-pipeline-data.service" /etc/systemd/system/fitness-pipeline-data.service
install -m 0644 "$HOST_FILES/fitness-pipeline.service" /etc/systemd/system/fitness-pipeline.service
# systemd waits for the containers' own grace periods (the consumer's covers its flush interval and commit).
install -d -m 0755 /etc/systemd/system/fitness-pipeline.service.d
cat >/etc/systemd/system/fitness-pipeline.service.d/stop-timeout.conf <<UNIT
[Service]
TimeoutStopSec=$PIPELINE_STOP_TIMEOUT_S
UNIT
# The compactor is a container of the pipeline now, running all the time (so its metrics can be scraped). A host
# set up before ran it from a systemd timer: remove the timer and its units.
if [ -e /etc/systemd/system/fitness-compactor.timer ]; then
  systemctl disable --now fitness-compactor.timer || true
  rm -rf /etc/systemd/system/fitness-compactor.timer /etc/systemd/system/fitness-compactor.timer.d \
    /etc/systemd/system/fitness-compactor.service
fi
systemctl daemon-reload
systemctl enable fitness-pipeline-data.service fitness-pipeline.service

# A replacement host: the host it replaces still holds the data volume until CloudFormation deletes it, which
# happens only once this host has reported. Queue the start (the data unit waits for the volume, then Kafka carries
# on with the same cluster) and report now.
holder=$(/usr/local/sbin/fitness-pipeline-data holder)
if [ -n "$holder" ]; then
  systemctl start --no-block fitness-pipeline.service
  echo "the data volume $DATA_VOLUME_ID is attached to $holder, the host this one replaces: the pipeline starts" \
    "here once that host has stopped and released it (journalctl -u fitness-pipeline-data)"
  exit 0
fi

# Start, or, when already running, `compose up` again: only the containers whose image or settings changed are
# recreated (each stopped within its grace period), and Kafka's data stays on its volume.
systemctl start fitness-pipeline-data.service
systemctl reload-or-restart fitness-pipeline.service

# Healthy means running (and healthy, where the container has a health check), with no restart while it settles.
container_state() {
  local service=$1 container
  container=$(fitness-pipeline ps --quiet "$service")
  docker inspect --format '{{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' \
    "$container"
}
declare -A before
for service in kafka producer consumer compactor; do
  before[$service]=$(container_state "$service")
done
sleep "$SETTLE_SECONDS"
for service in kafka producer consumer compactor; do
  state=$(container_state "$service")
  echo "$service: $state"
  case "$state" in
    "${before[$service]}") ;;
    *)
      fitness-pipeline logs --tail 50 "$service" >&2 || true
      echo "$service is not healthy: it was '${before[$service]}', it is '$state'" >&2
      exit 1
      ;;
  esac
  case "$state" in
    "running "*" healthy" | "running "*[0-9]" ") ;;
    *)
      echo "$service is not healthy: $state" >&2
      exit 1
      ;;
  esac
done
echo "the streaming host is up: kafka, producer, consumer and compactor are running"
