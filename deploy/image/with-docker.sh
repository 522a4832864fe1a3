#!/usr/bin/env bash
# Run a command with a Docker engine: installs Docker from Debian's packages when it is missing and we are
# root, starts `dockerd` for the run when none answers (and stops it afterwards), runs the command.
# Containers use the host's network (`--network host`), so dockerd runs with no bridge and no iptables rules:
# that works in a machine that is itself a container, and changes nothing on the host's firewall.
#
#   deploy/image/with-docker.sh [--optional] COMMAND [ARG ...]
#
# Where Docker cannot run at all (not root and no engine, or a kernel without what dockerd needs): one line
# on stderr and exit 3, or with --optional a visible SKIPPED line and exit 0 (CI's choice: .ci/run).
set -uo pipefail
optional=""
[ "${1:-}" = "--optional" ] && { optional=1; shift; }
cannot() {
  if [ -n "$optional" ]; then echo "SKIPPED: the image tests: Docker cannot run here: $*"; exit 0; fi
  echo "docker: cannot run here: $*" >&2; exit 3
}

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || cannot "docker is not installed and installing it needs root (apt-get install docker.io)"
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 docker.io >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq -o DPkg::Lock::Timeout=600 docker.io >/dev/null 2>&1; } \
    || cannot "apt-get install docker.io failed"
fi

started=""
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || cannot "no Docker engine answers and starting one needs root"
  log=$(mktemp /tmp/dockerd.XXXXXX.log)
  dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 &
  started=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$started" 2>/dev/null || { tail -n 5 "$log" >&2; cannot "dockerd exited at start"; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { kill "$started"; tail -n 5 "$log" >&2; cannot "dockerd did not answer in 60 s"; }
  echo "docker: started dockerd (pid $started) for this run; log in $log"
fi

stop() {
  if [ -n "$started" ]; then
    kill "$started" 2>/dev/null && wait "$started" 2>/dev/null
    echo "docker: stopped the dockerd this run started"
  fi
}
trap stop EXIT
"$@"
