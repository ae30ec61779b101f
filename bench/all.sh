#!/usr/bin/env bash
# `npm run bench:all`: the three side-by-side benchmarks of one machine, one after the other (never at once: each
# measures ratios on the same CPUs), each run's full output kept in bench/out/, then their last lines together.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p bench/out
lines=()
for b in checkpoint detectors eval; do
  echo "== bench:$b"
  npm run --silent "bench:$b" 2>&1 | tee "bench/out/$b.log"
  lines+=("$(tail -n 1 "bench/out/$b.log")")
done
echo "== summary"
printf '%s\n' "${lines[@]}"
