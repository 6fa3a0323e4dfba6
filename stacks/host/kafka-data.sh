#!/bin/bash
# Kafka's data volume on this host: the stack's encrypted EBS volume, which outlives any one instance.
#
#   fitness-pipeline-data attach    attach the volume here (waiting while another instance holds it), format it if
#                                   it is blank, mount it, and make sure it holds the cluster id; at every boot
#   fitness-pipeline-data holder    print the id of the other instance the volume is attached to, if any
#   fitness-pipeline-data release   unmount it (the instance's termination detaches it)
#
# The volume holds Kafka's log (the topics, the committed offsets, the dead letters) and cluster.env, the id Kafka's
# storage was formatted with. A new host that attaches it carries on with the same cluster and offsets.
set -euo pipefail

readonly CONFIG_DIR=${FITNESS_PIPELINE_CONFIG_DIR:-/etc/fitness-pipeline}
# shellcheck source=/dev/null
. "$CONFIG_DIR/stack.env"
: "${AWS_REGION:?}" "${DATA_VOLUME_ID:?}"

readonly DATA_DIR=/var/lib/fitness-pipeline
readonly KAFKA_UID=1000 # the apache/kafka image runs as appuser, uid 1000
readonly DEVICE_NAME=/dev/sdf
readonly POLL_SECONDS=5

this_instance() {
  local token
  token=$(curl --fail --silent --show-error --request PUT "http://169.254.169.254/latest/api/token" \
    --header "X-aws-ec2-metadata-token-ttl-seconds: 300")
  curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/instance-id"
}

# "STATE INSTANCE ATTACHMENT": available None None, or in-use i-0123 attached (or attaching, detaching).
volume_state() {
  aws ec2 describe-volumes --region "$AWS_REGION" --volume-ids "$DATA_VOLUME_ID" --output text \
    --query 'Volumes[0].[State, Attachments[0].InstanceId, Attachments[0].State]'
}

holder() {
  local state instance
  read -r state instance _ <<<"$(volume_state)"
  if [ "$state" = in-use ] && [ "$instance" != "$(this_instance)" ]; then
    echo "$instance"
  fi
}

# The block device of the volume: by its id on Nitro instances (NVMe), by its device name on Xen instances.
device() {
  local by_id=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}
  for candidate in "$by_id" "$DEVICE_NAME" /dev/xvdf; do
    if [ -b "$candidate" ]; then
      readlink -f "$candidate"
      return 0
    fi
  done
  return 1
}

attach() {
  local self state instance attachment waiting=""
  self=$(this_instance)
  while :; do
    read -r state instance attachment <<<"$(volume_state)"
    if [ "$state" = in-use ] && [ "$instance" = "$self" ] && [ "$attachment" = attached ]; then
      break
    elif [ "$state" = available ]; then
      echo "attaching $DATA_VOLUME_ID to $self"
      # Another host may win a race for it; the next look says who holds it.
      aws ec2 attach-volume --region "$AWS_REGION" --volume-id "$DATA_VOLUME_ID" --instance-id "$self" \
        --device "$DEVICE_NAME" >/dev/null || true
    elif [ "$waiting" != "$state $instance $attachment" ]; then
      waiting="$state $instance $attachment"
      echo "waiting for $DATA_VOLUME_ID: $state on $instance ($attachment)"
    fi
    sleep "$POLL_SECONDS"
  done

  local dev="" tries=0
  until dev=$(device); do
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ]; then
      echo "$DATA_VOLUME_ID is attached but no block device appeared" >&2
      exit 1
    fi
    sleep 1
  done

  # Format only a blank volume: blkid exits 2 when it finds no signature at all, and any other failure stops here.
  local status=0
  blkid -p "$dev" >/dev/null || status=$?
  if [ "$status" -eq 2 ]; then
    echo "formatting the blank volume $DATA_VOLUME_ID ($dev)"
    mkfs.xfs -q -L kafka-data "$dev"
  elif [ "$status" -ne 0 ]; then
    echo "cannot tell whether $dev holds data (blkid exit $status); not formatting it" >&2
    exit 1
  fi

  install -d -m 0755 "$DATA_DIR"
  if ! mountpoint -q "$DATA_DIR"; then
    mount -o noatime,nodev,nosuid "$dev" "$DATA_DIR"
  fi
  if [ "$(findmnt --noheadings --output SOURCE "$DATA_DIR")" != "$dev" ]; then
    echo "$DATA_DIR is not mounted from $dev" >&2
    exit 1
  fi
  install -d -m 0750 -o "$KAFKA_UID" -g "$KAFKA_UID" "$DATA_DIR/kafka"

  # The cluster id lives with the data it names: kept from the volume's storage when it has been formatted (a
  # volume restored from a snapshot), made once otherwise.
  if [ ! -s "$DATA_DIR/cluster.env" ]; then
    local cluster_id
    cluster_id=$(sed -n 's/^cluster\.id=//p' "$DATA_DIR/kafka/meta.properties" 2>/dev/null || true)
    if [ -z "$cluster_id" ]; then
      cluster_id=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
    fi
    (umask 027 && echo "KAFKA_CLUSTER_ID=$cluster_id" >"$DATA_DIR/cluster.env.new")
    mv "$DATA_DIR/cluster.env.new" "$DATA_DIR/cluster.env"
  fi
  echo "Kafka's data volume $DATA_VOLUME_ID is mounted at $DATA_DIR ($(cat "$DATA_DIR/cluster.env"))"
}

release() {
  if mountpoint -q "$DATA_DIR"; then
    umount "$DATA_DIR"
  fi
}

case "${1:-attach}" in
  attach) attach ;;
  holder) holder ;;
  release) release ;;
  *)
    echo "usage: $0 [attach|holder|release]" >&2
    exit 2
    ;;
esac
