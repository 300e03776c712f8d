#!/usr/bin/env bash
# Installs what the demo (and with --test, the test suite) needs, and only
# what is missing: Debian packages, npm packages, etcd 3.6 (and 3.5) built
# from the Go module proxy. Idempotent; prints one line per step that did
# work and finishes in well under two seconds when nothing is missing.
set -euo pipefail

usage() { echo "usage: $0 [--test]" >&2; exit 2; }
with_test=false
for arg in "$@"; do
  case $arg in
    --test) with_test=true ;;
    -h|--help) usage ;;
    *) echo "setup: unknown argument: $arg" >&2; usage ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
source hack/versions.env

# --- Debian packages -------------------------------------------------------
# etcd-server/etcd-client give etcd 3.4 (/usr/bin/etcd, etcdctl) for the
# 3.4 test bed; prometheus brings promtool; openssl generates test certs.
# zsh and fish (tests only) load the scripts of `etcd-monitor completion`.
declare -A pkg_binary=(
  [etcd-server]=/usr/bin/etcd
  [etcd-client]=/usr/bin/etcdctl
  [prometheus]=/usr/bin/promtool
  [openssl]=/usr/bin/openssl
  [zsh]=/usr/bin/zsh
  [fish]=/usr/bin/fish
)
packages=(etcd-server etcd-client prometheus openssl)
if [[ $with_test == true ]]; then packages+=(zsh fish); fi
missing=()
for pkg in "${packages[@]}"; do
  # Checking the binary is much faster than asking dpkg.
  [[ -x ${pkg_binary[$pkg]} ]] || missing+=("$pkg")
done

stop_system_etcd() {
  # The package's service would hold 127.0.0.1:2379 and confuse tests and
  # the demo: make sure it neither runs now nor starts at boot.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  else
    if [[ -x /etc/init.d/etcd ]]; then
      /etc/init.d/etcd stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d etcd disable >/dev/null 2>&1 || true
    fi
  fi
}

if ((${#missing[@]})); then
  if ((EUID != 0)); then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing packages ${missing[*]} and no apt-get here; install them by hand" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  # A policy-rc.d that denies service starts keeps the package's etcd (and
  # prometheus) from starting during installation. Only ours is removed.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from etcd-monitor hack/setup.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
    trap 'if [[ $own_policy == true ]]; then rm -f "$policy"; fi' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Quiet unless it fails: then show what apt said.
  if ! apt_log=$(apt-get update -qq 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
    echo "$apt_log" >&2
    echo "setup: apt-get install ${missing[*]} failed" >&2
    exit 1
  fi
  if [[ $own_policy == true ]]; then
    rm -f "$policy"
    own_policy=false
  fi
  # systemd ignores policy-rc.d for `enable`; stop and disable explicitly.
  if [[ " ${missing[*]} " == *" etcd-server "* ]]; then
    stop_system_etcd
  fi
fi

# --- npm packages ----------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install; when it is
# missing or older than package-lock.json the tree is out of date.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: 'npm' is not on PATH; install Node.js with npm (any version; node 24 comes from package.json) and rerun" >&2
    exit 1
  fi
  echo "setup: npm ci"
  # package.json pins node 24 as a devDependency; any npm can install it.
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# --- etcd builds -----------------------------------------------------------
# 3.6 always (the demo runs it), 3.5 for the tests. build-etcd.sh is a silent
# no-op when the binaries already exist.
etcd_versions=("$ETCD_36_VERSION")
if [[ $with_test == true ]]; then
  etcd_versions+=("$ETCD_35_VERSION")
fi
etcd_cache=${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}/etcd
for version in "${etcd_versions[@]}"; do
  [[ -x $etcd_cache/v$version/etcd && -x $etcd_cache/v$version/etcdctl ]] && continue
  # Go is only needed when something has to be built.
  if ! command -v go >/dev/null 2>&1; then
    echo "setup: 'go' is not on PATH but etcd $version must be built from source; install Go >= 1.24 (https://go.dev/dl/) and rerun" >&2
    exit 1
  fi
  bash hack/build-etcd.sh "$version"
done
if [[ $with_test == true ]]; then bash hack/build-tools.sh >/dev/null; fi # bbolt-edit for the consistency tests
if [[ $with_test == true ]]; then bash hack/build-kube-apiserver.sh; fi # kube-apiserver for test/k8s (a no-op when cached)
if [[ $with_test == true ]]; then # Helm 3 and 4 for test/chart (no-ops when cached)
  bash hack/build-helm.sh 3 >/dev/null
  bash hack/build-helm.sh 4 >/dev/null
fi

# --- no stray system etcd --------------------------------------------------
# Cheap check each run: a system etcd listening on the default client port
# means the package's service got started some other way (e.g. a reboot
# before it was disabled).
if [[ -x /usr/bin/etcd ]] && command -v ss >/dev/null 2>&1 &&
  ss -Hltnp 'sport = :2379' 2>/dev/null | grep -q '"etcd"'; then
  if [[ -f /etc/default/etcd ]] && { pgrep -x etcd -u etcd >/dev/null 2>&1; }; then
    echo "setup: stopping the system etcd service (port 2379)"
    stop_system_etcd
  fi
fi

echo "setup: ok"
