#!/usr/bin/env bash
# Mutation testing of the consumer's protocol and recovery functions with cosmic-ray, against one Kafka broker
# started for the whole run. The surviving mutants go to out/mutation/survivors.txt (explained in docs/mutation.md);
# the session database stays in out/mutation/, so an interrupted run goes on where it stopped (`make mutation`).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin
OUT=out/mutation
SESSION=$OUT/session.sqlite
CONFIG=tests/mutation/cosmic-ray.toml
mkdir -p "$OUT"

home=$(mktemp -d)
trap '$BIN/fitpipe kafka stop --home "$home" >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
KAFKA_BOOTSTRAP_SERVERS=$($BIN/fitpipe kafka start --home "$home" | tail -1)
export KAFKA_BOOTSTRAP_SERVERS
echo "broker at $KAFKA_BOOTSTRAP_SERVERS"

if [ ! -f "$SESSION" ]; then
	$BIN/cosmic-ray init "$CONFIG" "$SESSION"
	$BIN/python tests/mutation/scope.py "$SESSION"
	$BIN/cosmic-ray baseline "$CONFIG"
fi
$BIN/cosmic-ray exec "$CONFIG" "$SESSION"
$BIN/cr-report --show-pending "$SESSION" > "$OUT/report.txt"
$BIN/python tests/mutation/survivors.py "$SESSION" | tee "$OUT/survivors.txt"
tail -3 "$OUT/report.txt"
