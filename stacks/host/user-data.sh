#!/bin/bash
# First boot of the streaming host: install Docker with the Compose and Buildx plugins, fetch the services' source,
# make Kafka's TLS certificates and publish the CA's, start Kafka, the producer and the consumer under systemd, and
# report to CloudFormation whether they are healthy.
# The stack puts the settings below (exported variables) in front of this script in the instance's user-data.
set -euo pipefail

: "${STACK_NAME:?}" "${SIGNAL_RESOURCE:?}" "${AWS_REGION:?}" "${SOURCE_URL:?}" "${LAKE_BUCKET:?}"
: "${TOPIC:?}" "${DEAD_LETTER_TOPIC:?}" "${CONSUMER_GROUP:?}" "${SIMULATED_USERS:?}" "${FLUSH_INTERVAL_S:?}"
: "${TOPIC_PARTITIONS:?}" "${TOPIC_RETENTION_HOURS:?}" "${KAFKA_CA_PARAMETER:?}"

readonly COMPOSE_VERSION=v2.40.3
readonly BUILDX_VERSION=v0.29.1
readonly APP_DIR=/opt/fitness-pipeline
readonly CONFIG_DIR=/etc/fitness-pipeline
readonly KAFKA_DATA_DIR=/var/lib/fitness-pipeline/kafka
readonly KAFKA_TLS_DIR=/etc/fitness-pipeline/tls # on the encrypted root volume; root only
readonly KAFKA_UID=1000 # the apache/kafka image runs as appuser, uid 1000
readonly SETTLE_SECONDS=60

# Whatever happens, tell the stack's CreationPolicy: a non-zero status makes `cdk deploy` fail at once.
report_to_cloudformation() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "the streaming host failed to start (status $status); see /var/log/cloud-init-output.log" >&2
  fi
  if [ -x /opt/aws/bin/cfn-signal ]; then
    /opt/aws/bin/cfn-signal --exit-code "$status" --stack "$STACK_NAME" --resource "$SIGNAL_RESOURCE" \
      --region "$AWS_REGION" || echo "could not signal CloudFormation" >&2
  fi
}
trap report_to_cloudformation EXIT

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

dnf install -y aws-cfn-bootstrap docker openssl unzip

case "$(uname -m)" in
  x86_64) compose_arch=x86_64 buildx_arch=amd64 ;;
  aarch64) compose_arch=aarch64 buildx_arch=arm64 ;;
  *)
    echo "unsupported architecture $(uname -m)" >&2
    exit 1
    ;;
esac
plugins=/usr/local/lib/docker/cli-plugins
install -d -m 0755 "$plugins"
compose_release="https://github.com/docker/compose/releases/download/$COMPOSE_VERSION"
fetch_verified "$compose_release/docker-compose-linux-$compose_arch" \
  "$compose_release/docker-compose-linux-$compose_arch.sha256" \
  "docker-compose-linux-$compose_arch" "$plugins/docker-compose"
buildx_release="https://github.com/docker/buildx/releases/download/$BUILDX_VERSION"
fetch_verified "$buildx_release/buildx-$BUILDX_VERSION.linux-$buildx_arch" "$buildx_release/checksums.txt" \
  "buildx-$BUILDX_VERSION.linux-$buildx_arch" "$plugins/docker-buildx"
chmod 0755 "$plugins/docker-compose" "$plugins/docker-buildx"
systemctl enable --now docker.service

# The services' source: the stack's asset of the repository (pyproject.toml, README.md, services/, stacks/host/).
work=$(mktemp -d)
aws s3 cp --region "$AWS_REGION" --only-show-errors "$SOURCE_URL" "$work/source.zip"
rm -rf "$APP_DIR"
install -d -m 0755 "$APP_DIR"
unzip -q "$work/source.zip" -d "$APP_DIR"
rm -rf "$work"

# Kafka's log lives on the instance's encrypted root volume.
install -d -m 0750 -o "$KAFKA_UID" -g "$KAFKA_UID" "$KAFKA_DATA_DIR"

# The instance's private DNS name, which Kafka advertises to the VPC, and its private address: the names its TLS
# certificate holds (IMDSv2: a session token first).
imds_token=$(curl --fail --silent --show-error --request PUT "http://169.254.169.254/latest/api/token" \
  --header "X-aws-ec2-metadata-token-ttl-seconds: 300")
private_dns=$(curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: $imds_token" \
  "http://169.254.169.254/latest/meta-data/local-hostname")
private_ip=$(curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: $imds_token" \
  "http://169.254.169.254/latest/meta-data/local-ipv4")
kafka_cluster_id=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')

install -d -m 0750 "$CONFIG_DIR"

# Kafka's TLS listener: a private CA, made here and never leaving the host (its key is deleted once it has signed),
# and the broker's certificate for the private DNS name and address. Only the broker's keystore is mounted into the
# Kafka container, read-only, owned by the container's user; the folder itself is root's alone.
bash "$APP_DIR/stacks/host/kafka-tls.sh" "$KAFKA_TLS_DIR" "$private_dns" "$private_ip"
chown "$KAFKA_UID:$KAFKA_UID" "$KAFKA_TLS_DIR/broker.pem"
chmod 0400 "$KAFKA_TLS_DIR/broker.pem"
# Clients in the VPC trust the broker through the CA's certificate (public; no key), published in the parameter the
# stack names and lets this host's role write, and nothing else.
aws ssm put-parameter --region "$AWS_REGION" --name "$KAFKA_CA_PARAMETER" --type String --overwrite \
  --description "CA certificate of the fitness pipeline's Kafka TLS listener (port 9092)" \
  --value "file://$KAFKA_TLS_DIR/ca.pem" >/dev/null

umask 027
cat >"$CONFIG_DIR/pipeline.env" <<ENV
KAFKA_CLUSTER_ID=$kafka_cluster_id
KAFKA_ADVERTISED_HOST=$private_dns
KAFKA_DATA_DIR=$KAFKA_DATA_DIR
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
ENV
umask 022

install -m 0755 "$APP_DIR/stacks/host/fitness-pipeline" /usr/local/bin/fitness-pipeline
install -m 0644 "$APP_DIR/stacks/host/fitness-pipeline.service" /etc/systemd/system/fitness-pipeline.service
systemctl daemon-reload
# Starts now and on every boot; returns once Kafka is healthy and the producer and consumer are running.
systemctl enable --now fitness-pipeline.service

# Healthy means still running, without a single restart, a while after the start.
sleep "$SETTLE_SECONDS"
for service in kafka producer consumer; do
  container=$(fitness-pipeline ps --quiet "$service")
  state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$container")
  echo "$service: $state"
  case "$state" in
    "running 0 healthy" | "running 0 ") ;;
    *)
      fitness-pipeline logs --tail 50 "$service" >&2 || true
      echo "$service is not healthy: $state" >&2
      exit 1
      ;;
  esac
done
echo "the streaming host is up: kafka, producer and consumer are running"
