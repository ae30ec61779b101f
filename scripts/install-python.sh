#!/usr/bin/env bash
# Installs the PyTorch trainer (trainers/torch, package realgen_torch) with its pinned dependencies and test extra
# into a project venv at $REALGEN_TOOLS_DIR/torch-venv (default .tools/torch-venv, git-ignored), idempotently:
# the pins (pyproject.toml's content hash) are recorded in a marker file, and a second run with the same pins only
# checks the marker. Then it derives the realgen-mini generator weights from models/realgen-mini/generator.onnx
# (safetensors, checked against a committed sha256) unless they are already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${REALGEN_TOOLS_DIR:-$ROOT/.tools}"
VENV="$TOOLS/torch-venv"
PY="${PYTHON:-python3}"
START=$(date +%s)

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "realgen: '$PY' is not on PATH; install Python 3.10+ (with the venv module) and run this again." >&2
  exit 1
fi

want="$(sha256sum "$ROOT/trainers/torch/pyproject.toml" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.realgen-pins" 2>/dev/null)" == "$want" ]]; then
  echo "torch-venv: pins $want already installed in $VENV"
else
  echo "torch-venv: installing realgen_torch[test] (pyproject $want) into $VENV"
  rm -f "$VENV/.realgen-pins"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade "pip==25.3"
  # Editable: the tests and `python -m realgen_torch.train` run the worktree's code.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -e "$ROOT/trainers/torch[test]"
  echo "$want" > "$VENV/.realgen-pins"
fi

# realgen-mini weights (derived, not committed: see trainers/torch/README.md).
# This checkout's code and models, even when the venv's editable install points at another checkout sharing it.
PYTHONPATH="$ROOT/trainers/torch${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m realgen_torch.families.mini_weights --ensure

echo "torch-venv: ready in $(( $(date +%s) - START )) s ($(du -sh "$VENV" | cut -f1)); python: $VENV/bin/python"
