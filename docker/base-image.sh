#!/usr/bin/env bash
# A Debian bookworm base image made on this machine, for machines that reach Debian's package mirror but no
# container registry: debootstrap --variant=minbase into a directory, then `docker import` it.
# usage: docker/base-image.sh [IMAGE]   (default atlas-mlplugin/debian:bookworm-minbase; kept if it exists)
set -euo pipefail
IMAGE=${1:-atlas-mlplugin/debian:bookworm-minbase}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
ROOT=$(mktemp -d /tmp/atlas-mlplugin-rootfs.XXXXXX)
trap '$SUDO rm -rf "$ROOT"' EXIT
echo "docker: debootstrap bookworm into $ROOT (about a minute) ..." >&2
$SUDO debootstrap --variant=minbase bookworm "$ROOT" >/dev/null
$SUDO rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
$SUDO tar -C "$ROOT" -c . | docker import - "$IMAGE" >/dev/null
echo "$IMAGE"
