#!/usr/bin/env bash
# make compose-test: build every image (deploy/images/build.sh), start docker-compose.yml with
# podman-compose (the file users run with Docker; deploy/images/compose.local.yml swaps the
# third-party images for local ones), then deploy/images/compose_check.py sends a simulated day
# through the gateway and checks SMS, e-mail, a survey answered and the indicators, and that each
# service stops at once on SIGTERM. Everything started is removed at the end (containers, network,
# volumes of the project `canopee-compose-test`), whatever the outcome.
#
# Published ports: CANOPEE_COMPOSE_TEST_PORT_BASE (default 28000): services base+0..+4, store +17,
# SMTP +25, mail UI +26, Prometheus +90, Grafana +30, Kafka +192.
# Podman runs no healthcheck by itself here (no systemd timers): this script runs them every 3 s
# (`podman healthcheck run`), as Docker would.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=deploy/images/env.sh
source deploy/images/env.sh
t_start=$SECONDS

bash deploy/images/build.sh all
t_built=$SECONDS

# podman-compose from PyPI, in its own virtual environment (not the project's)
PCV="$ROOT/.local/podman-compose"
PODMAN_COMPOSE_VERSION=1.6.0
if [[ "$("$PCV/venv/bin/podman-compose" version 2>/dev/null | grep -o 'podman-compose version [0-9.]*' | cut -d' ' -f3)" != "$PODMAN_COMPOSE_VERSION" ]]; then
  say "installing podman-compose $PODMAN_COMPOSE_VERSION into .local/podman-compose/venv"
  python3 -m venv "$PCV/venv"
  "$PCV/venv/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
fi

B="${CANOPEE_COMPOSE_TEST_PORT_BASE:-28000}"
export CANOPEE_GATEWAY_HOST_PORT=$((B)) CANOPEE_TICKETING_HOST_PORT=$((B + 1)) CANOPEE_NOTIFICATIONS_HOST_PORT=$((B + 2))
export CANOPEE_FEEDBACK_HOST_PORT=$((B + 3)) CANOPEE_ANALYTICS_HOST_PORT=$((B + 4)) CANOPEE_MONGO_HOST_PORT=$((B + 17))
export CANOPEE_MAIL_SMTP_HOST_PORT=$((B + 25)) CANOPEE_MAIL_UI_HOST_PORT=$((B + 26)) CANOPEE_PROMETHEUS_HOST_PORT=$((B + 90))
export CANOPEE_GRAFANA_HOST_PORT=$((B + 30)) CANOPEE_KAFKA_HOST_PORT=$((B + 192))
export CANOPEE_FEEDBACK_SURVEY_URL_BASE="http://127.0.0.1:$CANOPEE_FEEDBACK_HOST_PORT"
CANOPEE_ADMIN_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CANOPEE_FEEDBACK_FORM_SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CANOPEE_ADMIN_TOKEN CANOPEE_FEEDBACK_FORM_SECRET CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET

PROJECT=canopee-compose-test
WORK="$ROOT/.local/images/compose-test"
rm -rf "$WORK"
mkdir -p "$WORK"
# the test's own offices file, mounted over the baked one (SMS allowed at any hour, so the checks do
# not depend on the clock), and shorter timers, as in tests/e2e
"$ROOT/.venv/bin/python" deploy/images/compose_check.py offices "$WORK/offices.toml"
cat >"$WORK/compose.test.yml" <<YAML
x-test: &test
  volumes: ["$WORK/offices.toml:/etc/canopee/offices/offices.toml:ro"]
services:
YAML
for s in gateway ticketing notifications feedback analytics; do
  cat >>"$WORK/compose.test.yml" <<YAML
  $s:
    <<: *test
    environment:
      CANOPEE_RETRY_BASE_SECONDS: "0.05"
      CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS: "0.5"
      CANOPEE_NOTIFICATIONS_SWEEP_SECONDS: "0.5"
      CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS: "1"
      CANOPEE_TICKETING_SWEEP_SECONDS: "2"
YAML
done
PC=("$PCV/venv/bin/podman-compose" -p "$PROJECT" -f docker-compose.yml -f deploy/images/compose.local.yml -f "$WORK/compose.test.yml")

HEALTH_PID=""
cleanup() {
  local rc=$?
  [[ -n "$HEALTH_PID" ]] && kill "$HEALTH_PID" 2>/dev/null || true
  if ((rc != 0)); then
    say "failed: last lines of each container's log"
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
      echo "----- $c" >&2
      podman logs --tail 30 "$c" >&2 2>&1 || true
    done
  fi
  "${PC[@]}" down -v >"$WORK/down.log" 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
"${PC[@]}" down -v >/dev/null 2>&1 || true # what an interrupted run left

# the healthchecks, as Docker would run them (podman has no systemd timers here)
(
  while sleep 3; do
    for c in $(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
  done
) &
HEALTH_PID=$!

say "starting docker-compose.yml (project $PROJECT, ports from $B) with podman-compose $PODMAN_COMPOSE_VERSION"
# In the order of docker-compose.yml's depends_on, one step at a time with --no-deps: podman 4.3
# cannot start a container whose --requires (what podman-compose derives from depends_on) has
# requirements of its own ("generating dependency graph ... not found in input list"), nor wait for
# `healthy`; `topics create --wait` and the services' retries cover Kafka's start.
up() { "${PC[@]}" up -d --no-deps "$@" >>"$WORK/up.log" 2>&1 || { tail -n 40 "$WORK/up.log" >&2; die "podman-compose up $* failed (log above)"; }; }
up kafka mongo mailpit
up topics
podman wait "$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter label=com.docker.compose.service=topics --format '{{.Names}}')" >/dev/null
up gateway ticketing notifications feedback analytics
"$ROOT/.venv/bin/python" deploy/images/compose_check.py check --project "$PROJECT" --port-base "$B"
say "compose-test passed: images $((t_built - t_start)) s, up and checks $((SECONDS - t_built)) s, total $((SECONDS - t_start)) s"
