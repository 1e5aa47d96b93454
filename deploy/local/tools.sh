#!/usr/bin/env bash
# Test tools from Debian's packages, installed when missing: promtool (Prometheus rules and
# metrics checks), headless Chromium (browser tests of the survey page and the dashboard), poppler's
# pdftotext/pdftoppm and the DejaVu fonts (analytics' monthly report: its text and pages in tests).
set -euo pipefail
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
command -v pdftotext >/dev/null || need+=(poppler-utils)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
  echo "[tools] installing ${need[*]} from Debian's packages"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "[tools] promtool: $(promtool --version 2>&1 | head -n1)"
echo "[tools] chromium: $(chromium --version 2>/dev/null | head -n1)"
echo "[tools] pdftotext: $(pdftotext -v 2>&1 | head -n1)"

# Helm and the manifest validator (tests/deploy/test_helm_chart.py): built from their Go modules
# into .local/bin when missing (Go >= 1.26: the pinned Kubernetes modules ask for it).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.local/bin"
HELM_VERSION=v3.22.0
mkdir -p "$BIN"
command -v go >/dev/null || { echo "[tools] go is required to build helm and the manifest validator" >&2; exit 1; }
if [[ ! -x "$BIN/helm" || "$(cat "$BIN/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]]; then
  echo "[tools] building helm $HELM_VERSION from its Go module (a few minutes the first time)"
  GOBIN="$BIN" nice -n 19 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$BIN/helm.version"
fi
VALIDATE_SRC="$ROOT/deploy/helm/validate"
if [[ ! -x "$BIN/chart-validate" || -n "$(find "$VALIDATE_SRC" -newer "$BIN/chart-validate" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))" ]]; then
  echo "[tools] building the manifest validator (deploy/helm/validate)"
  (cd "$VALIDATE_SRC" && nice -n 19 go build -o "$BIN/chart-validate" .)
fi
echo "[tools] helm: $HELM_VERSION ($BIN/helm)"
echo "[tools] chart-validate: $(cd "$VALIDATE_SRC" && go list -m -f '{{.Path}} {{.Version}}' k8s.io/api github.com/kedacore/keda/v2 | tr '\n' ' ')"
