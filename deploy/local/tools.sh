#!/usr/bin/env bash
# Test tools from Debian's packages, installed when missing: promtool (Prometheus rules and
# metrics checks) and headless Chromium (browser tests of the survey page and the dashboard).
set -euo pipefail
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
  echo "[tools] installing ${need[*]} from Debian's packages"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "[tools] promtool: $(promtool --version 2>&1 | head -n1)"
echo "[tools] chromium: $(chromium --version 2>/dev/null | head -n1)"
