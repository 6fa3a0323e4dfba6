#!/bin/bash
# Keep the instance role away from the containers that do not need it: of the pipeline's containers, only the
# consumer (it writes the lake) may reach the instance metadata service, and so the role's credentials. Kafka, the
# producer and the set-up containers are dropped there, whatever they run. IMDSv2 with hop limit 2 lets containers
# reach the service at all; this rule, in Docker's DOCKER-USER chain of forwarded traffic, narrows that to one
# address. Run before the containers start, at every boot (the rules do not survive a reboot).
#
#   imds-guard.sh ALLOWED_ADDRESS
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 ALLOWED_ADDRESS" >&2
  exit 2
fi
allowed=$1
readonly IMDS=169.254.169.254/32
readonly TAG="fitness-pipeline imds-guard"

iptables -N DOCKER-USER 2>/dev/null || true
# Idempotent: remove this script's rules, then add them again in order (the RETURN above the DROP).
while iptables -D DOCKER-USER -d "$IMDS" -m comment --comment "$TAG" -j DROP 2>/dev/null; do :; done
while iptables -D DOCKER-USER -s "$allowed/32" -d "$IMDS" -m comment --comment "$TAG" -j RETURN 2>/dev/null; do :; done
iptables -I DOCKER-USER 1 -d "$IMDS" -m comment --comment "$TAG" -j DROP
iptables -I DOCKER-USER 1 -s "$allowed/32" -d "$IMDS" -m comment --comment "$TAG" -j RETURN
