#!/usr/bin/env bash
# Soak benchmark for the persistent sending queue: sluice-loadgen sends spans at a steady rate
# through Sluice (OTLP → batch → OTLP exporter with sending_queue.storage) to the loadgen sink,
# while Sluice is killed with SIGKILL and restarted every few seconds. At the end it compares
# the spans Sluice acknowledged (loadgen's "accepted") with the distinct spans that reached the
# sink (every span carries a unique trace ID), and prints losses and duplicates.
#
#   benches/soak_persistent_queue.sh            # 60 s of load, a kill every 10 s
#   SOAK_DURATION=300 SOAK_KILL_EVERY=7 SOAK_RATE=50000 SOAK_FSYNC=true benches/soak_persistent_queue.sh
#
# Not part of the test suite (tests/persistent_queue.rs runs the small version).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${SOAK_DURATION:-60}
KILL_EVERY=${SOAK_KILL_EVERY:-10}
RATE=${SOAK_RATE:-20000}
FSYNC=${SOAK_FSYNC:-false}
GRPC=${SOAK_PORT:-24317}
SINK_GRPC=$((GRPC + 1))
SINK_HTTP=$((GRPC + 2))

cargo build --release --bin sluice --bin sluice-loadgen >&2
BIN=target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${sluice_pid:-}" ] && kill -9 "$sluice_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/sluice.yaml" <<YAML
extensions:
  file_storage/queue:
    directory: $work/queue
    create_directory: true
    fsync: $FSYNC
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
processors:
  batch: {}
exporters:
  otlp:
    endpoint: 127.0.0.1:$SINK_GRPC
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}
    sending_queue: {storage: file_storage/queue, queue_size: 100000}
service:
  extensions: [file_storage/queue]
  telemetry:
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}
YAML

"$BIN/sluice-loadgen" sink --grpc-listen "127.0.0.1:$SINK_GRPC" --http-listen "127.0.0.1:$SINK_HTTP" \
  --check-unique-trace-ids --quiet > "$work/sink.log" 2>&1 &
pids+=($!)

start_sluice() {
  "$BIN/sluice" --config "$work/sluice.yaml" >> "$work/sluice.log" 2>&1 &
  sluice_pid=$!
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$GRPC") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "sluice did not start; log:" >&2; tail -20 "$work/sluice.log" >&2; exit 1
}
start_sluice

"$BIN/sluice-loadgen" traces --endpoint "127.0.0.1:$GRPC" --rate "$RATE" --duration "${DURATION}s" \
  --workers 4 --batch 200 --json --quiet > "$work/loadgen.json" 2> "$work/loadgen.log" &
loadgen=$!
pids+=($loadgen)

kills=0
while kill -0 "$loadgen" 2>/dev/null; do
  sleep "$KILL_EVERY"
  kill -0 "$loadgen" 2>/dev/null || break
  kill -9 "$sluice_pid"; wait "$sluice_pid" 2>/dev/null || true
  kills=$((kills + 1))
  start_sluice
done
wait "$loadgen" || true

counts() { curl -s "http://127.0.0.1:$SINK_HTTP/control/counts"; }
accepted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$work/loadgen.json")
# Wait for the queue to drain: the sink count stops moving.
last=-1
for _ in $(seq 120); do
  now=$(counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])')
  [ "$now" = "$last" ] && [ "$now" -ge "$accepted" ] && break
  last=$now
  sleep 1
done
read -r spans dups < <(counts | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["spans"], c["duplicate_trace_ids"])')
distinct=$((spans - dups))
lost=$((accepted > distinct ? accepted - distinct : 0))
cat <<REPORT
| soak | value |
|---|---:|
| load | $RATE spans/s for ${DURATION} s, fsync $FSYNC |
| kill -9 + restart | $kills |
| spans acknowledged by Sluice | $accepted |
| distinct spans at the sink | $distinct |
| lost (acknowledged, never arrived) | $lost |
| duplicates (re-sent after a crash) | $dups |
REPORT
[ "$lost" -eq 0 ]
