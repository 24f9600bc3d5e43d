#!/usr/bin/env bash
# Builds the local Atlas image (docker/Dockerfile) and prints its name.
#   BASE_IMAGE   a Debian bookworm image to build on (default: one made here by docker/base-image.sh, since no
#                container registry may be reachable; set BASE_IMAGE=debian:bookworm-slim where one is)
#   IMAGE        the image to build (default atlas-mlplugin/atlas:local)
# The Atlas war is taken from the launcher's download cache when it is there (ATLAS_ML_DOWNLOAD_DIR, default
# ~/.cache/atlas-mlplugin/downloads), so the build does not download 290 MB again. The CA certificates this
# machine trusts beyond the system's defaults (/usr/local/share/ca-certificates) are trusted by the build
# stage too, so pip reaches PyPI through a TLS-inspecting proxy as the machine does.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-atlas-mlplugin/atlas:local}
bash docker/ensure-docker.sh
BASE_IMAGE=${BASE_IMAGE:-$(bash docker/base-image.sh)}

CONTEXT=docker/.context/downloads
rm -rf docker/.context && mkdir -p "$CONTEXT" docker/.context/ca-certificates
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt docker/.context/ca-certificates/
fi
CACHE=${ATLAS_ML_DOWNLOAD_DIR:-$HOME/.cache/atlas-mlplugin/downloads}
if [[ -f $CACHE/atlas-webapp-2.1.0.war ]]; then
  ln "$CACHE/atlas-webapp-2.1.0.war" "$CONTEXT/" 2>/dev/null || cp "$CACHE/atlas-webapp-2.1.0.war" "$CONTEXT/"
fi
echo "docker: building $IMAGE on $BASE_IMAGE ..." >&2
docker build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f docker/Dockerfile . >/dev/null
rm -rf docker/.context
echo "$IMAGE"
