#!/usr/bin/env bash
# The whole test suite: unit tests (src/**) and integration tests on real etcd
# processes (test/**). Run through `npm test`, which runs hack/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
if [ "$#" -eq 0 ]; then
  # The whole suite starts with what the compiler and the linter know, so a
  # type error or a lint finding fails before minutes of integration tests.
  echo 'typecheck: tsc --noEmit'
  tsc --noEmit -p .
  echo 'lint: biome ci (lint and format check)'
  biome ci --diagnostic-level=error --max-diagnostics=50 .
  set -- 'src/**/*.test.ts' 'test/**/*.test.ts'
fi
# Two files at a time: each integration file runs its own etcd clusters, and
# this machine has two cores.
exec node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-600000}" "$@"
