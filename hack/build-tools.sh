#!/usr/bin/env bash
# Builds the Go test tools of hack/tools (today: bbolt-edit) into
#   ${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}/tools/<hash>/
# where <hash> covers go.mod, go.sum and every .go file of hack/tools: an
# unchanged tool is never rebuilt, a changed one gets a directory of its own
# (older builds stay until the cache is cleared). Prints the path of
# bbolt-edit on stdout; silent otherwise unless it builds. Idempotent and safe
# to run concurrently (the binary is written under a temporary name and
# renamed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/tools
cache=${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}

# The hash of the module: each file's path and contents, in a stable order.
hash=$(
  cd "$src"
  for f in go.mod go.sum $(find . -name '*.go' -type f | LC_ALL=C sort); do
    printf '%s\0' "${f#./}"
    cat "$f"
  done | sha256sum | cut -c1-16
)
dest=$cache/tools/$hash
bin=$dest/bbolt-edit

if [[ ! -x $bin ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "build-tools: 'go' is not on PATH; install Go (https://go.dev/dl/) to build the test tools" >&2
    exit 1
  fi
  mkdir -p "$dest"
  tmp=$dest/.bbolt-edit.tmp.$$
  trap 'rm -f "$tmp"' EXIT
  echo "build-tools: building bbolt-edit" >&2
  # Build this module on its own, whatever go.work the caller has; go.sum is
  # checked in, so nothing but the pinned modules is fetched.
  if ! log=$(cd "$src" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$tmp" ./cmd/bbolt-edit 2>&1); then
    echo "$log" >&2
    echo "build-tools: building bbolt-edit failed" >&2
    exit 1
  fi
  mv -f "$tmp" "$bin"
fi
echo "$bin"
