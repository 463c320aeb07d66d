#!/usr/bin/env bash
# Runs every Sluice test on a fresh machine, installing what the tests need first:
#   - a Python venv (.venv) with the OpenTelemetry SDK and its OTLP exporters, for interop tests.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Python venv with the OpenTelemetry SDK (tests/interop/requirements.txt)"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi
export SLUICE_TEST_PYTHON="$PWD/.venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== build"
cargo build --locked --all-targets

echo "== tests"
cargo test --locked --all-targets
