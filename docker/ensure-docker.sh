#!/usr/bin/env bash
# A running Docker engine, on a machine that may have only the client (or nothing): installs Debian's
# docker.io and debootstrap when missing, and starts dockerd in the background when no engine answers.
# Idempotent; needs root (or sudo) the first time.
set -euo pipefail
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker: installing docker.io and debootstrap (Debian packages) ..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "docker: starting dockerd (log: /tmp/atlas-mlplugin-dockerd.log) ..." >&2
  $SUDO sh -c 'nohup dockerd >/tmp/atlas-mlplugin-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "docker: dockerd did not come up; see /tmp/atlas-mlplugin-dockerd.log" >&2; exit 1; }
fi
