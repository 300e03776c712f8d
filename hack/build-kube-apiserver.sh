#!/usr/bin/env bash
# Builds kube-apiserver VERSION (e.g. 1.34.4; default KUBE_VERSION from
# hack/versions.env) from the Go module proxy into
#   ${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}/kube/vVERSION/kube-apiserver
# using the wrapper module in hack/kube. A no-op when the binary exists.
#
# k8s.io/kubernetes is not meant to be used as a module: its go.mod requires
# the staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and
# replaces them with ./staging/src/k8s.io/<name>, directories that are not
# part of the published module. A wrapper module therefore has to replace
# every one of them with the published k8s.io/<name> v0.MINOR.PATCH. The
# checked-in hack/kube/go.mod (+ go.sum) does that for KUBE_VERSION; for any
# other version the list is regenerated from that version's own go.mod, so
# bumping KUBE_VERSION needs no other edit.
#
# The binary is written under a temporary name and renamed, so an
# interrupted build never leaves a half-written binary behind. The first
# build takes about 4 minutes on 2 idle cores (longer when they are busy:
# it runs at nice 19).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [VERSION]   (e.g. 1.34.4; default KUBE_VERSION from hack/versions.env)" >&2
  exit 2
fi
version=${1:-}
if [[ -z $version ]]; then
  # shellcheck source=versions.env
  version=$(source "$here/versions.env" && echo "${KUBE_VERSION:-}")
fi
version=${version#v}
if [[ ! $version =~ ^1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "build-kube-apiserver: bad version '$version' (want e.g. 1.34.4)" >&2
  exit 2
fi
minor=${BASH_REMATCH[1]}
patch=${BASH_REMATCH[2]}
# Staging modules are published as v0.MINOR.PATCH alongside v1.MINOR.PATCH.
staging_version=v0.$minor.$patch

cache=$(cache_dir)
dest=$cache/kube/v$version
bin=$dest/kube-apiserver

if [[ -x $bin ]]; then
  exit 0
fi

require_go build-kube-apiserver "kube-apiserver $version (Go >= 1.24)"
if lock_dir "$dest" && [[ -x $bin ]]; then
  exit 0
fi

# Leftovers of a build that was killed outright (the trap below never ran).
rm -f "$dest"/.kube-apiserver.tmp.*

build=$cache/kube/build-v$version
rm -rf "$build"
mkdir -p "$build"
cp "$here/kube/go.mod" "$here/kube/go.sum" "$here/kube/tools.go" "$build/"
tmp=$dest/.kube-apiserver.tmp.$$
trap 'rm -f "$tmp"' EXIT

echo "build-kube-apiserver: building kube-apiserver v$version (first time only, takes about 5 minutes)"
build() {
  cd "$build"
  # Build this module on its own, whatever go.work the caller has.
  export GOWORK=off
  # Static binary like the upstream release builds; no C toolchain needed.
  export CGO_ENABLED=0
  # Go 1.26 builds Kubernetes 1.34; if a release ever needs another
  # toolchain, set e.g. GOTOOLCHAIN=go1.24.12 here (fetched through the
  # module proxy).

  # That version's own go.mod (and zip), straight from the module proxy.
  info=$(go mod download -json "k8s.io/kubernetes@v$version")
  json_field() { sed -n 's/^[[:space:]]*"'"$1"'": "\(.*\)",\{0,1\}$/\1/p' <<<"$info" | head -n 1; }
  upstream_mod=$(json_field GoMod)
  upstream_info=$(json_field Info)
  [[ -f $upstream_mod && -f $upstream_info ]] || { echo "$info"; echo "no go.mod for k8s.io/kubernetes@v$version"; exit 1; }

  # The staging modules: every module that k8s.io/kubernetes replaces with
  # a ./staging/src/ directory (single-line and block form).
  staging=$(awk '$0 ~ /=>[[:space:]]*\.\/staging\/src\// {
      sub(/^[[:space:]]*replace[[:space:]]+/, ""); print $1 }' "$upstream_mod" | sort -u)
  [[ -n $staging ]] || { echo "no staging replace directives in $upstream_mod"; exit 1; }

  want_replaces=$(for mod in $staging; do echo "$mod $mod $staging_version"; done)
  have_replaces=$(go mod edit -json | awk '
      /"Old": \{/ { side = "old" } /"New": \{/ { side = "new" }
      /"Path":/ { gsub(/[",]/, "", $2); if (side == "old") old = $2; else newp = $2 }
      /"Version":/ && side == "new" { gsub(/[",]/, "", $2); print old, newp, $2 }' | sort)
  have_kube=$(go mod edit -json | awk '/"Path": "k8s.io\/kubernetes"/ { getline; gsub(/[",]/, "", $2); print $2; exit }')

  if [[ $have_kube != "v$version" || $have_replaces != "$(sort <<<"$want_replaces")" ]]; then
    echo "regenerating go.mod for k8s.io/kubernetes v$version (template has ${have_kube:-nothing})"
    # Start from k8s.io/kubernetes alone: indirect requirements left in the
    # template by one version must not upgrade the dependencies of another.
    for mod in $(go mod edit -json | awk '/"Require": \[/ { r = 1 } /^\t\]/ { r = 0 }
        r && /"Path":/ { gsub(/[",]/, "", $2); print $2 }'); do
      go mod edit -droprequire="$mod"
    done
    for mod in $(go mod edit -json | awk '/"Old": \{/ { getline; gsub(/[",]/, "", $2); print $2 }'); do
      go mod edit -dropreplace="$mod"
    done
    # Same language version and GODEBUG defaults as the upstream build.
    go_line=$(awk '$1 == "go" { print $2; exit }' "$upstream_mod")
    go mod edit -go="$go_line"
    for setting in $(go mod edit -json | awk '/"Godebug": \[/ { g = 1 } /^\t\]/ { g = 0 }
        g && /"Key":/ { gsub(/[",]/, "", $2); print $2 }'); do
      go mod edit -dropgodebug="$setting"
    done
    for setting in $(awk '$1 == "godebug" && $2 != "(" { print $2 }
        /^godebug \(/ { g = 1; next } g && /^\)/ { g = 0 } g && NF { print $1 }' "$upstream_mod"); do
      go mod edit -godebug="$setting"
    done
    go mod edit -require="k8s.io/kubernetes@v$version"
    {
      echo
      echo "replace ("
      for mod in $staging; do
        printf '\t%s => %s %s\n' "$mod" "$mod" "$staging_version"
      done
      echo ")"
    } >>go.mod
    go mod edit -fmt
  fi
  nice -n 19 go mod tidy

  # What hack/lib/version.sh sets for a release build. The release commit is
  # not known from the module proxy (set KUBE_GIT_COMMIT to record it); the
  # build date defaults to the release's publication time so that the same
  # version always yields the same binary.
  release_time=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$upstream_info")
  if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
    build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  else
    build_date=$(date -u -d "$release_time" +%Y-%m-%dT%H:%M:%SZ)
  fi
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$version"
    ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitCommit=${KUBE_GIT_COMMIT:-}"
    ldflags+=" -X $pkg.gitTreeState=clean"
    ldflags+=" -X $pkg.buildDate=$build_date"
  done
  nice -n 19 go build -o "$tmp" -trimpath -ldflags "$ldflags" k8s.io/kubernetes/cmd/kube-apiserver
}
# Go's chatter goes to a log that is shown only when the build fails.
logged_build build-kube-apiserver "kube-apiserver v$version" "$build/build.log" build

if ! reported=$("$tmp" --version 2>&1) || [[ $reported != "Kubernetes v$version" ]]; then
  echo "build-kube-apiserver: built binary reports '$reported', want 'Kubernetes v$version'" >&2
  exit 1
fi
mv -f "$tmp" "$bin"
# Keep the exact module graph next to the binary; copy both files to
# hack/kube/ when bumping KUBE_VERSION so that the next build is pinned.
cp "$build/go.mod" "$build/go.sum" "$dest/"
rm -rf "$build"
