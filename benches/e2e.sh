#!/usr/bin/env bash
# End-to-end benchmark: sluice-loadgen → collector (OTLP receiver → batch → OTLP exporter)
# → sluice-loadgen sink, on loopback. The collector is pinned to CPU 1 with taskset, the load
# generator and the sink to CPU 0. The same load goes through Sluice and through rotel (a Rust
# OTLP collector from PyPI), alternating, and one markdown table is printed and written to
# target/bench-report.md.
#
# Usage: benches/e2e.sh            (full run, ~10 s per rate step)
#        E2E_QUICK=1 benches/e2e.sh (3 s steps, fewer rates: a smoke run of the harness)
#
# Environment knobs (all optional):
#   E2E_SIGNALS="traces metrics logs"   signals to measure
#   E2E_PEERS="sluice rotel"            collectors (the first two are compared); also
#                                       "sluice-sysalloc": src/main.rs without its jemalloc
#                                       global allocator (glibc malloc), built in
#                                       target/sysalloc-variant; src/ is untouched;
#                                       "sluice-base": the binary in E2E_BASE_BIN (e.g. a
#                                       copy of target/release/sluice built from main), for
#                                       before/after comparisons
#   E2E_STEP_SECONDS=10                 seconds per rate step
#   E2E_BATCH=512 E2E_WORKERS=8         items per request and concurrent senders
#   E2E_SKIP_CRITERION=1                reuse criterion results already in target/criterion
#   E2E_REPORT=target/bench-report.md   where the table goes
#   E2E_NICE=-10                        nice level of collector, load generator and sink (as
#                                       root), so other work on the machine does not starve them
# Never part of the test suite: benchmarks are not timed tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=${E2E_QUICK:-0}
SIGNALS=${E2E_SIGNALS:-"traces metrics logs"}
PEERS=${E2E_PEERS:-"sluice rotel"}
STEP=${E2E_STEP_SECONDS:-$([ "$QUICK" = 1 ] && echo 3 || echo 10)}
BATCH=${E2E_BATCH:-512}
WORKERS=${E2E_WORKERS:-8}
REPORT=${E2E_REPORT:-target/bench-report.md}
OUT=target/e2e
# Copies of the release binaries: `cargo bench` (the criterion step) rebuilds the bins with the
# bench profile and puts them in target/release too, where their symbol names no longer match
# the link order (build.rs), so the run uses the binaries as `cargo build --release` made them.
BIN=$ROOT/$OUT/bin
LOADGEN=$BIN/sluice-loadgen
ROTEL_DIR=$ROOT/target/rotel-cache
ROTEL=$ROTEL_DIR/rotel/rotel-agent
BASE_RATE=10000
if [ "$QUICK" = 1 ]; then
  RATES="10000 100000 300000 600000"
else
  RATES="10000 25000 50000 75000 100000 150000 200000 300000 400000 600000 800000 1000000"
fi
NICE=${E2E_NICE:--10}
[ "$(id -u)" = 0 ] || NICE=0
PIN0="nice -n $NICE taskset -c 0"
PIN1="nice -n $NICE taskset -c 1"
mkdir -p "$OUT"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
log() { echo "e2e: $*" >&2; }

[ "$(nproc)" -ge 2 ] || { echo "e2e: needs 2 CPUs (collector on CPU 1, load on CPU 0)" >&2; exit 1; }

# ---------------------------------------------------------------- build and fetch
log "building release binaries"
cargo build --release --bins --quiet
mkdir -p "$BIN"
cp target/release/sluice target/release/sluice-loadgen "$BIN/"

sluice_bin() {
  case $1 in
    sluice) echo "$BIN/sluice" ;;
    sluice-sysalloc) echo "$ROOT/target/sysalloc-variant/release/sluice-sysalloc" ;;
    sluice-base) echo "${E2E_BASE_BIN:?set E2E_BASE_BIN to the baseline sluice binary}" ;;
  esac
}

build_sysalloc_variant() {
  # The same main as src/main.rs without its global allocator (jemalloc), i.e. with the
  # system allocator (glibc malloc), built as a separate crate that depends on this one.
  local d=$ROOT/target/sysalloc-variant/crate
  mkdir -p "$d/src"
  cp Cargo.lock "$d/Cargo.lock"
  cat > "$d/Cargo.toml" <<EOF
[package]
name = "sluice-sysalloc"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
sluice = { path = "$ROOT" }
clap = { version = "4", features = ["derive", "env"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "time", "sync", "signal"] }
tracing = "0.1"
[profile.release]
debug = 1
codegen-units = 4
lto = "thin"
[workspace]
EOF
  grep -v -e '^//!' -e '^#\[global_allocator\]' -e 'tikv_jemallocator::Jemalloc' -e 'use_jemalloc()' \
    src/main.rs > "$d/src/main.rs"
  CARGO_TARGET_DIR=$ROOT/target/sysalloc-variant cargo build --release --quiet --manifest-path "$d/Cargo.toml"
}
case " $PEERS " in *" sluice-sysalloc "*) log "building the system-allocator variant"; build_sysalloc_variant ;; esac

case " $PEERS " in *" rotel "*)
  if [ ! -x "$ROTEL" ]; then
    log "fetching rotel from PyPI into $ROTEL_DIR"
    mkdir -p "$ROTEL_DIR"
    python3 -m pip download --quiet --pre --no-deps rotel -d "$ROTEL_DIR"
    python3 - "$ROTEL_DIR" <<'EOF'
import os, sys, zipfile
d = sys.argv[1]
whl = sorted(f for f in os.listdir(d) if f.startswith("rotel-") and f.endswith(".whl"))[-1]
zipfile.ZipFile(os.path.join(d, whl)).extract("rotel/rotel-agent", d)
EOF
    chmod +x "$ROTEL"
  fi ;;
esac

# ---------------------------------------------------------------- criterion bound
if [ "${E2E_SKIP_CRITERION:-0}" != 1 ] || [ ! -f target/criterion/otlp/decode/traces/new/estimates.json ]; then
  log "criterion: OTLP protobuf decode and encode of 1000-item requests"
  cargo bench --quiet --bench otlp -- --noplot 'otlp/(decode|encode)/' >"$OUT/criterion.log" 2>&1
fi
# Mean time of one criterion benchmark, in ns.
crit_ns() {
  sed 's/.*"mean":{"confidence_interval":{[^}]*},"point_estimate":\([0-9.e+-]*\).*/\1/' \
    "target/criterion/otlp/$1/$2/new/estimates.json"
}
# Items per second one core can decode and re-encode (1000 items per request).
bound() { awk -v d="$(crit_ns decode "$1")" -v e="$(crit_ns encode "$1")" 'BEGIN { printf "%.0f", 1000 / ((d + e) / 1e9) }'; }

# ---------------------------------------------------------------- process probes
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
jnum() { grep -o "\"$1\":[0-9.]*" "$2" | head -1 | cut -d: -f2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "e2e: nothing listens on $1" >&2; return 1
}
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# ---------------------------------------------------------------- collectors
HAS_BATCH=0
"$BIN/sluice" components 2>/dev/null | grep -qw batch && HAS_BATCH=1
start_collector() { # peer grpc_port http_port sink_grpc_port
  local peer=$1 g=$2 h=$3 s=$4
  case $peer in
    sluice*)
      local procs="[]"; [ $HAS_BATCH = 1 ] && procs="[batch]"
      cat > "$OUT/sluice.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$g }
      http: { endpoint: 127.0.0.1:$h }
processors:
$([ $HAS_BATCH = 1 ] && echo "  batch: {}" || echo "  {}")
exporters:
  otlp:
    endpoint: 127.0.0.1:$s
    tls: { insecure: true }
service:
  pipelines:
    traces: { receivers: [otlp], processors: $procs, exporters: [otlp] }
    metrics: { receivers: [otlp], processors: $procs, exporters: [otlp] }
    logs: { receivers: [otlp], processors: $procs, exporters: [otlp] }
EOF
      $PIN1 "$(sluice_bin "$peer")" --config "$OUT/sluice.yaml" >"$OUT/$peer.log" 2>&1 &
      ;;
    rotel)
      $PIN1 "$ROTEL" start --otlp-grpc-endpoint "127.0.0.1:$g" --otlp-http-endpoint "127.0.0.1:$h" \
        --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:$s" \
        --pid-file "$OUT/rotel.pid" --log-file "$OUT/rotel.log" >"$OUT/rotel.out" 2>&1 &
      ;;
  esac
  COLLECTOR=$!
  PIDS+=("$COLLECTOR")
  wait_port "$g"
}

# ---------------------------------------------------------------- one rate step
# Sets: S_OK S_ACC S_DELIV S_CPU S_RSS S_HWM S_P99 S_REFUSED S_ERR S_SENT
run_step() { # signal rate collector_grpc_port sink_http_port
  local signal=$1 rate=$2 g=$3 sh=$4 j="$OUT/step.json" c0 c1 t0 t1 d0 d1
  curl -sf -XPOST "http://127.0.0.1:$sh/control/reset-latency" >/dev/null
  curl -sf "http://127.0.0.1:$sh/control/counts" >"$OUT/c0.json"
  c0=$(cpu_ticks "$COLLECTOR"); t0=$(date +%s.%N)
  $PIN0 "$LOADGEN" "$signal" --endpoint "127.0.0.1:$g" --rate "$rate" --duration "${STEP}s" \
    --batch "$BATCH" --workers "$WORKERS" --json --quiet >"$j" 2>>"$OUT/loadgen.log"
  # Let the batch timeout (200 ms) and the exporter flush what was accepted.
  sleep 1
  c1=$(cpu_ticks "$COLLECTOR"); t1=$(date +%s.%N)
  curl -sf "http://127.0.0.1:$sh/control/counts" >"$OUT/c1.json"
  local item; item=$(case $signal in traces) echo spans;; metrics) echo metric_points;; logs) echo log_records;; esac)
  d0=$(jnum "$item" "$OUT/c0.json"); d1=$(jnum "$item" "$OUT/c1.json")
  S_SENT=$(jnum sent "$j"); S_ACC=$(jnum accepted "$j"); S_REFUSED=$(jnum refused "$j"); S_ERR=$(jnum errors "$j")
  S_DELIV=$((d1 - d0))
  S_CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
  S_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  S_RSS=$(status_kb "$COLLECTOR" VmRSS); S_HWM=$(status_kb "$COLLECTOR" VmHWM)
  S_P99=$(jnum p99_us "$OUT/c1.json")
  S_OK=$(awk -v acc="$S_ACC" -v del="$S_DELIV" -v want="$((rate * STEP))" -v r="$S_REFUSED" -v e="$S_ERR" \
    'BEGIN { print (r == 0 && e == 0 && acc >= 0.95 * want && del >= 0.99 * acc) ? 1 : 0 }')
  log "$(printf '%-16s %-7s rate %8d/s: accepted %9d delivered %9d refused %7d errors %5d | cpu %6.2fs rss %6d KiB hwm %6d KiB | e2e p99 %6.1f ms %s' \
    "$PEER" "$signal" "$rate" "$S_ACC" "$S_DELIV" "$S_REFUSED" "$S_ERR" "$S_CPU" "$S_RSS" "$S_HWM" \
    "$(awk -v u="$S_P99" 'BEGIN{print u/1000}')" "$([ "$S_OK" = 1 ] && echo ok || echo NOT-SUSTAINED)")"
}

# Results: R[peer,signal,key]
declare -A R
measure() { # peer signal
  PEER=$1; local signal=$2 g h sg sh attempt
  sg=$(free_port); sh=$(free_port)
  $PIN0 "$LOADGEN" sink --grpc-listen "127.0.0.1:$sg" --http-listen "127.0.0.1:$sh" --quiet \
    >"$OUT/sink.out" 2>&1 &
  local sink=$!; PIDS+=("$sink")
  wait_port "$sg"; wait_port "$sh"
  # A port free_port found can be taken by another socket before the collector binds it (the
  # collector then exits): start again on other ports.
  for attempt in 1 2 3; do
    g=$(free_port); h=$(free_port)
    start_collector "$PEER" "$g" "$h" "$sg" || true
    sleep 1
    kill -0 "$COLLECTOR" 2>/dev/null && break
    log "$PEER did not start (attempt $attempt), retrying on other ports"
  done
  local k="$PEER,$signal" max=0 first=1
  for rate in $RATES; do
    run_step "$signal" "$rate" "$g" "$sh"
    if [ "$first" = 1 ]; then
      first=0
      R[$k,base_cpu]=$S_CPU; R[$k,base_deliv]=$S_DELIV; R[$k,base_wall]=$S_WALL
      R[$k,base_rss]=$S_RSS; R[$k,base_hwm]=$S_HWM; R[$k,base_p99]=$S_P99
    fi
    [ "$S_OK" = 1 ] || break
    max=$rate
    R[$k,max_cpu]=$S_CPU; R[$k,max_deliv]=$S_DELIV; R[$k,max_rss]=$S_RSS
    R[$k,max_hwm]=$S_HWM; R[$k,max_p99]=$S_P99; R[$k,max_rate]=$(awk -v a="$S_ACC" -v s="$STEP" 'BEGIN { printf "%.0f", a / s }')
  done
  R[$k,max]=$max
  # The harness, not the collector, may be the limit when even the last step passed.
  R[$k,capped]=$([ "$max" = "${RATES##* }" ] && echo 1 || echo 0)
  kill "$COLLECTOR" "$sink" 2>/dev/null || true
  wait "$COLLECTOR" "$sink" 2>/dev/null || true
}

n=0
for signal in $SIGNALS; do
  # Alternate which collector goes first.
  order=$PEERS
  [ $((n % 2)) = 1 ] && order=$(echo "$PEERS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for peer in $order; do measure "$peer" "$signal"; done
  n=$((n + 1))
done

# ---------------------------------------------------------------- report
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "" || v == "-") print "–"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f×", a / b }'; }
per_m() { awk -v c="$1" -v d="$2" 'BEGIN { if (d + 0 == 0) print ""; else printf "%.3f", c / d * 1e6 }'; }
per_cpu_s() { awk -v c="$1" -v d="$2" 'BEGIN { if (c + 0 == 0) print ""; else printf "%.0f", d / c }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print ""; else printf "%.1f", k / 1024 }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "") print ""; else printf "%.1f", u / 1000 }'; }
pct() { awk -v c="$1" -v w="$2" 'BEGIN { if (w + 0 == 0) print ""; else printf "%.1f", 100 * c / w }'; }

set -- $PEERS
P1=$1; P2=${2:-}
{
  echo "## Sluice end-to-end benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); collector pinned to CPU 1, load generator and sink on CPU 0, all at nice $NICE; load average at start ${LOADAVG}."
  echo "OTLP/gRPC in, $([ $HAS_BATCH = 1 ] && echo 'batch processor (defaults: 8192 items, 200 ms)' || echo 'NO batch processor (not in this build)'), OTLP/gRPC out (gzip); rotel: defaults (batch 8192 / 200 ms, gzip)."
  echo "Load: ${BATCH} items per request, ${WORKERS} connections, ${STEP} s per rate step; rates: ${RATES}."
  echo
  printf '| signal | measure | %s |' "$P1"; [ -n "$P2" ] && printf ' %s | %s / %s |' "$P2" "$P1" "$P2"; echo
  printf '|---|---|---:|'; [ -n "$P2" ] && printf -- '---:|---:|'; echo
  for signal in $SIGNALS; do
    unit=$(case $signal in traces) echo spans;; metrics) echo points;; logs) echo records;; esac)
    B=$(bound "$signal")
    row() { # label value1 value2 [ratio-of]
      printf '| %s | %s | %s |' "$signal" "$1" "$2"
      [ -n "$P2" ] && printf ' %s | %s |' "$3" "${4:-–}"
      echo
    }
    v() { # key for peer: computes derived values
      local p=$1 key=$2 k="$1,$signal"
      case $key in
        max) echo "${R[$k,max_rate]:-0}" ;;
        base_cpu_m) per_m "${R[$k,base_cpu]}" "${R[$k,base_deliv]}" ;;
        base_cpu_pct) pct "${R[$k,base_cpu]}" "${R[$k,base_wall]}" ;;
        max_cpu_m) per_m "${R[$k,max_cpu]:-}" "${R[$k,max_deliv]:-0}" ;;
        max_per_cpu_s) per_cpu_s "${R[$k,max_cpu]:-0}" "${R[$k,max_deliv]:-0}" ;;
        *) echo "${R[$k,$key]:-}" ;;
      esac
    }
    line() { # label key format transform
      local a b
      a=$(v "$P1" "$2"); b=$([ -n "$P2" ] && v "$P2" "$2" || true)
      [ -n "${4:-}" ] && { a=$($4 "$a"); b=$($4 "$b"); }
      row "$1" "$(fmt "$a" "$3")" "$(fmt "$b" "$3")" "$(ratio "$a" "$b")"
    }
    capped() { [ "${R[$1,$signal,capped]:-0}" = 1 ] && echo " (harness limit)" || true; }
    row "max sustained $unit/s (no refusals, ≥95% of rate, all delivered)" \
      "$(fmt "$(v "$P1" max)" '%.0f')$(capped "$P1")" \
      "$([ -n "$P2" ] && fmt "$(v "$P2" max)" '%.0f')$([ -n "$P2" ] && capped "$P2")" \
      "$(ratio "$(v "$P1" max)" "$([ -n "$P2" ] && v "$P2" max)")"
    line "CPU % of one core at 10k $unit/s" base_cpu_pct '%.1f'
    line "CPU s per million $unit at 10k/s" base_cpu_m '%.3f'
    line "CPU s per million $unit at max" max_cpu_m '%.3f'
    line "$unit per CPU-second at max" max_per_cpu_s '%.0f'
    line "RSS steady at 10k/s (MiB)" base_rss '%.1f' mib
    line "RSS peak at 10k/s (MiB)" base_hwm '%.1f' mib
    line "RSS steady at max (MiB)" max_rss '%.1f' mib
    line "RSS peak at max (MiB)" max_hwm '%.1f' mib
    line "added latency p99 at 10k/s (ms)" base_p99 '%.1f' ms
    line "added latency p99 at max (ms)" max_p99 '%.1f' ms
    row "decode+encode bound, one core ($unit/s, criterion)" "$B" "$B" "–"
    row "max sustained / bound" "$(awk -v m="$(v "$P1" max)" -v b="$B" 'BEGIN{printf "%.0f%%", 100*m/b}')" \
      "$([ -n "$P2" ] && awk -v m="$(v "$P2" max)" -v b="$B" 'BEGIN{printf "%.0f%%", 100*m/b}')" "–"
  done
} | tee "$REPORT"
log "report written to $REPORT; logs in $OUT/"
