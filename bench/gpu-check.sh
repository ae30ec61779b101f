#!/usr/bin/env bash
# GPU check of the native PyTorch trainer (trainers/torch): the flux-family tests on CUDA (nccl-free single rank,
# bf16 where supported), then a throughput figure (samples/s, step time) from bench/torch_throughput.py.
#
#   bash bench/gpu-check.sh                 # GPU 0; REALGEN_GPU_ID=3 picks another
#   REALGEN_FLUX_DIR=/models/FLUX.1-dev bash bench/gpu-check.sh   # throughput of the real model (else tiny FLUX)
#
# Without an NVIDIA accelerator it says so and exits 0. Needs node_modules (the tests start `realgen serve reward`)
# and the torch venv (installed here if missing: scripts/install-python.sh).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${REALGEN_TOOLS_DIR:-$ROOT/.tools}"
PY="$TOOLS/torch-venv/bin/python"
GPU="${REALGEN_GPU_ID:-0}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA accelerator on this machine (nvidia-smi is missing or lists no GPU); nothing to check."
  exit 0
fi
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv
if [[ ! -f node_modules/.package-lock.json ]]; then
  echo "gpu-check: node_modules is missing (the tests start the reward service with bin/realgen): run npm ci first." >&2
  exit 1
fi
bash scripts/install-python.sh || exit 1
if ! CUDA_VISIBLE_DEVICES="$GPU" "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu-check: nvidia-smi lists a GPU but torch.cuda.is_available() is false for GPU $GPU:" >&2
  "$PY" -c 'import torch; print("torch", torch.__version__, "built for CUDA", torch.version.cuda)' >&2
  exit 1
fi
CUDA_VISIBLE_DEVICES="$GPU" "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())'

status=0
echo "== flux-family tests on CUDA (GPU $GPU)"
# The job specs of the tests get gpuIds [0] (REALGEN_TEST_GPU_IDS), which is GPU $GPU under CUDA_VISIBLE_DEVICES.
t0=$(date +%s)
(cd trainers/torch && CUDA_VISIBLE_DEVICES="$GPU" REALGEN_TEST_GPU_IDS=0 PYTHONUNBUFFERED=1 "$PY" -m pytest -q -k flux tests/test_train.py) || status=$?
echo "flux tests: exit $status in $(( $(date +%s) - t0 )) s"

echo "== throughput (GPU $GPU)"
CUDA_VISIBLE_DEVICES="$GPU" PYTHONUNBUFFERED=1 "$PY" bench/torch_throughput.py --gpu 0 ${REALGEN_FLUX_DIR:+--pretrained "$REALGEN_FLUX_DIR"} || status=$?

echo "gpu-check: exit $status"
exit "$status"
