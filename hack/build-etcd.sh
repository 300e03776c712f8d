#!/usr/bin/env bash
# Builds etcd and etcdctl VERSION (e.g. 3.6.16) from the Go module proxy into
#   ${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}/etcd/vVERSION/{etcd,etcdctl}
# using the wrapper module in hack/etcd. A no-op when both binaries exist.
# Binaries are written under a temporary name and renamed, so an interrupted
# build never leaves a half-written binary behind.
set -euo pipefail

if [[ $# -ne 1 || ! $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: $0 VERSION   (e.g. 3.6.16)" >&2
  exit 2
fi
version=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
cache=$(cache_dir)
dest=$cache/etcd/v$version

if [[ -x $dest/etcd && -x $dest/etcdctl ]]; then
  exit 0
fi

require_go build-etcd "etcd $version"
if lock_dir "$dest" && [[ -x $dest/etcd && -x $dest/etcdctl ]]; then
  exit 0
fi

# Leftovers of a build that was killed outright (the trap below never ran).
rm -f "$dest"/.etcd.tmp.* "$dest"/.etcdctl.tmp.*

build=$cache/etcd/.build/v$version
rm -rf "$build"
mkdir -p "$build"
cp "$here/etcd/go.mod" "$here/etcd/tools.go" "$build/"
tmp_etcd=$dest/.etcd.tmp.$$
tmp_etcdctl=$dest/.etcdctl.tmp.$$
trap 'rm -f "$tmp_etcd" "$tmp_etcdctl"' EXIT

echo "build-etcd: building etcd v$version (first time only, takes about a minute)"
build() {
  cd "$build"
  # Build this module on its own, whatever go.work the caller has.
  export GOWORK=off
  # Start from the two etcd modules only: indirect requirements left in the
  # template by one version must not upgrade the dependencies of another
  # (3.5 and 3.6 pin different grpc, otel, ... versions).
  for mod in $(go mod edit -print | awk '
      /^require \(/ { block = 1; next }
      block && /^\)/ { block = 0; next }
      block && NF { print $1 }
      /^require [^(]/ { print $2 }'); do
    go mod edit -droprequire="$mod"
  done
  go mod edit \
    -require="go.etcd.io/etcd/server/v3@v$version" \
    -require="go.etcd.io/etcd/etcdctl/v3@v$version"
  go mod tidy
  # Static binaries like the upstream release builds; no C toolchain needed.
  export CGO_ENABLED=0
  go build -trimpath -o "$tmp_etcd" go.etcd.io/etcd/server/v3
  go build -trimpath -o "$tmp_etcdctl" go.etcd.io/etcd/etcdctl/v3
}
# Go's chatter goes to a log that is shown only when the build fails.
logged_build build-etcd "etcd v$version" "$build/build.log" build

"$tmp_etcd" --version | grep -q "etcd Version: $version" || {
  echo "build-etcd: built binary does not report version $version" >&2
  exit 1
}
mv -f "$tmp_etcd" "$dest/etcd"
mv -f "$tmp_etcdctl" "$dest/etcdctl"
rm -rf "$build"
