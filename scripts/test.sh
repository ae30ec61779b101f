#!/usr/bin/env bash
# `npm test`: installs what is missing (npm packages, Temporal CLI, MinIO), starts both servers on free ports in a
# throwaway state folder, type-checks, lints, runs every unit and integration test against the real servers, then
# the PyTorch trainer's pytest suite (torch venv installed by scripts/install-python.sh), stops what it started, and
# exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/ensure-installed.sh
# The PyTorch trainer's venv (idempotent: a no-op when its pins are installed); test/trainers/torch-trainer.test.ts
# and the pytest suite at the end need it.
echo "== torch venv"
bash scripts/install-python.sh

STATE="$(mktemp -d "${TMPDIR:-/tmp}/realgen-test-XXXXXX")"
cleanup() {
  bin/realgen dev down --state-dir "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

echo "== stack"
eval "$(bin/realgen dev up --state-dir "$STATE" --auto-ports --print-env)"
export REALGEN_TEST_TEMPORAL_ADDRESS="$REALGEN_TEMPORAL_ADDRESS"
export REALGEN_TEST_S3_ENDPOINT="$REALGEN_S3_ENDPOINT"
export REALGEN_TEST_ACCESS_KEY_FILE="$REALGEN_S3_ACCESS_KEY_FILE"
export REALGEN_TEST_SECRET_KEY_FILE="$REALGEN_S3_SECRET_KEY_FILE"
# Tests build their own configs; the documented overrides must not leak into them.
unset REALGEN_TEMPORAL_ADDRESS REALGEN_S3_ENDPOINT REALGEN_S3_ACCESS_KEY_FILE REALGEN_S3_SECRET_KEY_FILE REALGEN_STATE_DIR
# Every temp folder the tests make (Node's os.tmpdir(), Python's tempfile) goes under the state folder, which the
# exit trap removes: before, each run left about 0.6 GB in /tmp (the crash test's private stack alone ~570 MB).
export TMPDIR="$STATE/tmp"
mkdir -p "$TMPDIR"

echo "== typecheck"
npx --no-install tsc -p .
echo "== lint"
npx --no-install eslint .

echo "== tests"
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test "${files[@]}"

echo "== python tests (trainers/torch)"
bash scripts/test-python.sh
