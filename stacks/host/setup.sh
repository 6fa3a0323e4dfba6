#!/bin/bash
# The streaming host's set-up on Amazon Linux: install Docker with the Compose and Buildx plugins and the CloudWatch
# agent, fetch the services' source, learn the instance's private name and address from the instance metadata, run
# the portable part (configure.sh: Kafka's TLS certificates and the CA published, the Kafka users' passwords read from
# Secrets Manager, the pipeline's settings written), then install the systemd units and bring Kafka, the producer,
# the consumer and the compactor up under systemd on Kafka's data volume (`fitness-pipeline up`).
#
# cfn-init runs it at first boot, and cfn-hup runs it again whenever a deploy changes the instance's metadata (the
# source, this script or a setting), so it is safe to run any number of times: it installs what is missing, keeps
# the TLS material and Kafka's data, and `docker compose up` recreates only the containers whose image or settings
# changed. The settings come from the stack, in /etc/fitness-pipeline/stack.env.
set -euo pipefail

readonly CONFIG_DIR=/etc/fitness-pipeline
# shellcheck source=/dev/null
. "$CONFIG_DIR/stack.env"
# What this part reads; configure.sh checks the rest.
: "${AWS_REGION:?}" "${SOURCE_URL:?}" "${DATA_VOLUME_ID:?}" "${PIPELINE_STOP_TIMEOUT_S:?}"
: "${CW_AGENT_CONFIG_PARAMETER:?}" "${CW_SCRAPE_CONFIG_PARAMETER:?}"

readonly COMPOSE_VERSION=v2.40.3
readonly BUILDX_VERSION=v0.29.1
readonly APP_DIR=/opt/fitness-pipeline
readonly HOST_FILES=$APP_DIR/stacks/host
# The mount point of Kafka's data volume (kafka-data.sh): Kafka's log, offsets, dead letters and the cluster id.
readonly DATA_DIR=/var/lib/fitness-pipeline
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

# What any machine with the AWS CLI and compose does (configure.sh): Kafka's TLS material for those names, the CA
# published, the Kafka users' passwords read, and the environment file compose reads written.
FITNESS_PIPELINE_CONFIG_DIR=$CONFIG_DIR FITNESS_PIPELINE_DATA_DIR=$DATA_DIR \
  bash "$HOST_FILES/configure.sh" "$private_dns" "$private_ip"

umask 077
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
