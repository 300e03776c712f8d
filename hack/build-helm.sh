#!/usr/bin/env bash
# Builds Helm MAJOR (3 or 4) from the Go module proxy into
#   ${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}/helm/vVERSION/helm
# using the wrapper module hack/helm/vMAJOR, whose go.mod pins the release
# (helm.sh/helm/vMAJOR VERSION) and whose go.sum pins everything it pulls
# in: bumping Helm is `go get helm.sh/helm/v3@vX.Y.Z && go mod tidy` there.
# Prints the path of the binary on stdout; silent otherwise unless it builds.
# A no-op when the binary exists; safe to run concurrently (flock, and the
# binary is written under a temporary name and renamed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ $# -ne 1 || ! $1 =~ ^[34]$ ]]; then
  echo "usage: $0 3|4   (the Helm major version to build)" >&2
  exit 2
fi
major=$1
src=$here/helm/v$major
module=helm.sh/helm/v$major

# The release pinned by the wrapper module: its `require` line.
version=$(awk -v mod="$module" '$1 == "require" && $2 == mod { print $3; exit }' "$src/go.mod")
if [[ ! $version =~ ^v$major\.[0-9]+\.[0-9]+$ ]]; then
  echo "build-helm: cannot read the $module version from $src/go.mod (got '$version')" >&2
  exit 1
fi

dest=$(cache_dir)/helm/$version
bin=$dest/helm
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

require_go build-helm "Helm $version (Go >= 1.26)"
if lock_dir "$dest" && [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
rm -f "$dest"/.helm.tmp.*
tmp=$dest/.helm.tmp.$$
trap 'rm -f "$tmp"' EXIT

echo "build-helm: building Helm $version (first time only, takes a few minutes)" >&2
# What Helm's Makefile sets for a release build. Helm 3 also stamps the
# Kubernetes version its lint and template default to (client-go's minor,
# major + 1 as the Makefile computes it); Helm 4 reads it from the build info.
build() {
  local ldflags="-s -w -X $module/internal/version.version=$version -X $module/internal/version.gitTreeState=clean"
  cd "$src"
  export GOWORK=off CGO_ENABLED=0
  if [[ $major == 3 ]]; then
    client_go=$(go list -f '{{.Version}}' -m k8s.io/client-go)
    k8s_minor=$(cut -d. -f2 <<<"${client_go#v}")
    k8s_major=$(($(cut -d. -f1 <<<"${client_go#v}") + 1))
    for pkg in pkg/lint/rules pkg/chartutil; do
      ldflags+=" -X $module/$pkg.k8sVersionMajor=$k8s_major -X $module/$pkg.k8sVersionMinor=$k8s_minor"
    done
  fi
  # go.sum is checked in: nothing but the pinned modules is fetched.
  nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$tmp" "$module/cmd/helm"
}
log=$dest/build.log
logged_build build-helm "Helm $version" "$log" build
if ! reported=$("$tmp" version --template '{{.Version}}' 2>&1) || [[ $reported != "$version" ]]; then
  echo "build-helm: built binary reports '$reported', want '$version'" >&2
  exit 1
fi
mv -f "$tmp" "$bin"
rm -f "$log"
echo "$bin"
