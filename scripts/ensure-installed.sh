#!/usr/bin/env bash
# Installs what is missing, idempotently: npm packages (`npm ci` when node_modules is absent or older than
# package-lock.json) and the stack tools (scripts/install-tools.sh). Run by `npm test` and `npm run demo`, so either
# works as the very first command in a fresh clone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "== npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

echo "== tools" >&2
bash scripts/install-tools.sh >&2

# The dashboard's browser test (test/services/ui/) drives Debian's chromium through playwright-core, which never
# downloads a browser. Installed only when missing, and only where apt-get can run as root (CI runs as root).
if [[ ! -x /usr/bin/chromium && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "== chromium (apt)" >&2
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2
fi
