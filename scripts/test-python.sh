#!/usr/bin/env bash
# Tests of the PyTorch trainer (trainers/torch): installs what is missing (npm packages for the reward service,
# the torch venv), then runs pytest on CPU with one thread. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${REALGEN_TOOLS_DIR:-$ROOT/.tools}"

if [[ ! -f node_modules/.package-lock.json ]]; then
  echo "== npm ci (the tests start the real reward service)"
  npm ci --no-audit --no-fund
fi
echo "== torch venv"
bash scripts/install-python.sh
echo "== pytest"
cd trainers/torch
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 exec "$TOOLS/torch-venv/bin/python" -m pytest -q "$@"
