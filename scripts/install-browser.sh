#!/usr/bin/env bash
# Chromium and its WebDriver for the officer's browser test (tests/integration/test_officer_browser.py).
# Debian's packages, not a browser selenium-manager downloads: the test machine may have no network for that,
# and the distribution's chromium and chromium-driver always come in matching versions.
# Idempotent: does nothing when both binaries are present.
set -euo pipefail

# The paths the browser test uses (it reads the same variables); Debian's packages install these.
CHROMIUM=${ATLAS_ML_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${ATLAS_ML_CHROMEDRIVER:-/usr/bin/chromedriver}

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: $CHROMIUM or $CHROMEDRIVER is missing and apt-get is not available on this system." >&2
  echo "Install Chromium and its matching chromedriver (Debian packages: chromium, chromium-driver) and point" >&2
  echo "ATLAS_ML_CHROMIUM and ATLAS_ML_CHROMEDRIVER at them, or leave the browser test out:" >&2
  echo "  pytest tests/unit tests/integration --deselect tests/integration/test_officer_browser.py" >&2
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-browser: installing chromium and chromium-driver needs root; run as root or install sudo." >&2
    exit 1
  fi
fi

echo "install-browser: installing Debian's chromium and chromium-driver (once)" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null

for binary in "$CHROMIUM" "$CHROMEDRIVER"; do
  if [[ ! -x "$binary" ]]; then
    echo "install-browser: apt-get finished but $binary is not there; check the packages chromium, chromium-driver." >&2
    exit 1
  fi
done
"$CHROMIUM" --version >&2
