#!/bin/sh
# Runs fuzz targets one after another, each for SECONDS (default 600), from the repository
# root: fuzz/run.sh [SECONDS] [TARGET ...]. Corpus growth goes to fuzz/corpus/<target>
# (seeded from fuzz/seeds/<target>), crashes to fuzz/artifacts/<target>, logs to
# fuzz/logs/<target>.log. Needs cargo-fuzz; RUSTC_BOOTSTRAP=1 lets it use its nightly-only
# flags (-Zsanitizer=address, …) on a stable toolchain.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"otlp_proto otlp_json prom_text ottl config"}
mkdir -p fuzz/logs
for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t for ${secs}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        >"fuzz/logs/$t.log" 2>&1 || echo "$t: stopped with a finding, see fuzz/logs/$t.log"
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^Done|cov:' "fuzz/logs/$t.log" | tail -3
done
