#!/usr/bin/env bash
# Make sure a headless Chromium is on the machine for the browser tests (tests/e2e/test_ui_browser.py).
# Playwright (a dev dependency in .venv) drives the *system* browser through its executable path,
# so nothing is downloaded from a browser CDN (only PyPI/Debian are reachable here).
# Idempotent: prints the browser it found, installs Debian's `chromium` when none is there.
set -euo pipefail

find_browser() {
  local candidate
  for candidate in "${ECOMFLOW_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [ -n "$candidate" ] && command -v "$candidate" 2>/dev/null && return 0
  done
  return 1
}

if browser=$(find_browser); then
  echo "browser: $browser"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "browser: no chromium found and not root: run 'sudo apt-get install -y chromium' (or set ECOMFLOW_CHROMIUM)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: no chromium found and no apt-get: install Chromium and set ECOMFLOW_CHROMIUM to its path" >&2
  exit 1
fi
log=$(mktemp -t ecomflow-apt.XXXXXX)
printf 'browser: installing Debian chromium (log %s) ... ' "$log"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get install -y -q chromium >"$log" 2>&1 || { $SUDO apt-get update -q >>"$log" 2>&1 && $SUDO apt-get install -y -q chromium >>"$log" 2>&1; }; }; then
  echo "FAILED"; tail -20 "$log" >&2; exit 1
fi
echo "ok ($(find_browser))"
