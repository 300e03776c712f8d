#!/usr/bin/env bash
# Runs every benchmark in bench/ (each prints figures; none asserts timings).
# Record what you measure in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
bash hack/setup.sh --test
for bench in bench/foundation.ts bench/consistency.ts bench/request.ts bench/operator-scale.ts bench/startup.ts; do
  [[ -f $bench ]] || continue
  echo "=== $bench"
  node "$bench"
done
