#!/usr/bin/env bash
# Writes benches/link-order/sluice.order, the link order build.rs gives release builds: the
# functions Sluice executes while starting and while forwarding traces, metrics and logs
# (OTLP/gRPC and OTLP/HTTP in, batch, OTLP/gRPC out with gzip, the benchmark's pipeline), as
# valgrind's callgrind records them, sorted by name (callgrind's own order varies from run to
# run; within the list order matters little, what counts is that they sit together). Rerun
# after larger changes to the code on that path, or with another Rust version (symbol names
# change with it); a stale list still links, it only orders fewer functions.
#
# Usage: benches/link-order.sh     (needs valgrind; ~2 minutes after the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=target/link-order
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "link-order: needs valgrind" >&2; exit 1; }
cargo build --release --bins --quiet
BIN=$ROOT/target/release/sluice
LOADGEN=$ROOT/target/release/sluice-loadgen
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "link-order: nothing listens on $1" >&2; return 1
}
G=$(free_port); H=$(free_port); SG=$(free_port); SH=$(free_port)
cat > "$OUT/sluice.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$G }
      http: { endpoint: 127.0.0.1:$H }
processors:
  batch: {}
exporters:
  otlp:
    endpoint: 127.0.0.1:$SG
    tls: { insecure: true }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [otlp] }
    metrics: { receivers: [otlp], processors: [batch], exporters: [otlp] }
    logs: { receivers: [otlp], processors: [batch], exporters: [otlp] }
YAML
"$LOADGEN" sink --grpc-listen "127.0.0.1:$SG" --http-listen "127.0.0.1:$SH" --quiet >"$OUT/sink.log" 2>&1 &
SINK=$!
trap 'kill $SINK 2>/dev/null || true' EXIT
valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
  --callgrind-out-file="$OUT/callgrind.out" "$BIN" --config "$OUT/sluice.yaml" >"$OUT/sluice.log" 2>&1 &
S=$!
wait_port "$G"; wait_port "$H"
for signal in traces metrics logs; do
  for proto in grpc http; do
    port=$G; [ $proto = http ] && port=$H
    "$LOADGEN" "$signal" --endpoint "127.0.0.1:$port" --protocol $proto --rate 2000 --duration 3s \
      --batch 512 --workers 4 --quiet >>"$OUT/loadgen.log" 2>&1
  done
done
sleep 1
kill -TERM "$S"; wait "$S" || true
# Functions of the binary (text symbols).
nm --defined-only "$BIN" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$OUT/text-symbols"
# The functions callgrind saw run that are the binary's, each once, sorted by name so a rerun
# changes only the lines of functions that changed. Symbol names carry hashes that depend on
# the compiler version and the profile: the header says which ones the list matches (lld
# skips `#` comments).
{
  echo "# $(rustc --version), cargo build --release: functions a forwarding sluice runs (benches/link-order.sh)"
  sed -n 's/^fn=//p' "$OUT/callgrind.out" | LC_ALL=C sort -u \
    | awk 'NR == FNR { text[$0] = 1; next } text[$0]' "$OUT/text-symbols" -
} >benches/link-order/sluice.order
echo "link-order: $(wc -l <benches/link-order/sluice.order) functions in benches/link-order/sluice.order" >&2
