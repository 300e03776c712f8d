# shellcheck shell=bash
# What the hack/build-*.sh scripts share: the binary cache, the Go check, a
# lock per destination directory, and a build step whose chatter goes to a
# log that is shown only when it fails. Sourced, never run.

# The cache of built binaries (shared by every worktree and CI run on the machine).
cache_dir() {
  echo "${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}"
}

# require_go SCRIPT WHAT: exits with a hint when Go is not on PATH.
require_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "$1: 'go' is not on PATH; install Go (https://go.dev/dl/) to build $2" >&2
    exit 1
  fi
}

# lock_dir DIR: creates DIR and holds DIR/.lock (file descriptor 9) until the
# script exits, so that two setups running at once (parallel CI jobs on one
# cache) never build into the same directory. Fails (returns 1) without
# flock: the caller then builds unlocked, as before.
lock_dir() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  command -v flock >/dev/null 2>&1 && flock 9
}

# logged_build SCRIPT WHAT LOG COMMAND...: runs COMMAND (usually a function
# holding the build steps) in a subshell with `set -e`, its output in LOG.
# On failure prints the log's last lines and exits 1.
logged_build() {
  local script=$1 what=$2 log=$3 status
  shift 3
  set +e
  (
    set -e
    "$@"
  ) >"$log" 2>&1
  status=$?
  set -e
  if ((status != 0)); then
    tail -n 30 "$log" >&2
    echo "$script: building $what failed (full log: $log)" >&2
    exit 1
  fi
}
