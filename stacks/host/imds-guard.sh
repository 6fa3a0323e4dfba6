#!/bin/bash
# Keep the instance role away from the containers that do not need it: of the pipeline's containers, only the
# consumer and the compactor (they write the lake) may reach the instance metadata service, and so the role's
# credentials. Kafka, the producer and the set-up containers are dropped there, whatever they run. IMDSv2 with hop
# limit 2 lets containers reach the service at all; these rules, in Docker's DOCKER-USER chain of forwarded traffic,
# narrow that to the given addresses. Run before the containers start, at every boot (the rules do not survive a
# reboot).
#
#   imds-guard.sh ALLOWED_ADDRESS...
set -euo pipefail

if [ "$#" -lt 1 ]; then
  echo "usage: $0 ALLOWED_ADDRESS..." >&2
  exit 2
fi
readonly IMDS=169.254.169.254/32
readonly TAG="fitness-pipeline imds-guard"

iptables -N DOCKER-USER 2>/dev/null || true
# Idempotent: remove this script's rules (by number, from the last, so the numbers hold; an address no longer given
# goes too), then add them again in order (the RETURNs above the DROP).
iptables -L DOCKER-USER --line-numbers -n | awk -v tag="/* $TAG */" 'index($0, tag) { print $1 }' | sort -rn |
  while read -r number; do iptables -D DOCKER-USER "$number"; done
iptables -I DOCKER-USER 1 -d "$IMDS" -m comment --comment "$TAG" -j DROP
for allowed in "$@"; do
  iptables -I DOCKER-USER 1 -s "$allowed/32" -d "$IMDS" -m comment --comment "$TAG" -j RETURN
done
