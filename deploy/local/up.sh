#!/usr/bin/env bash
# `make up`: start the five services (and a demo mail catcher) in the background, each recorded by
# PID in .local/run/<name>.pid with its log in .local/run/<name>.log, create the topics, wait until
# every service is ready, start the simulator and the demo tenants and print where to look. Harmless
# when re-run: what is already running is left alone. `make down` (deploy/local/down.sh) stops it all
# by PID.
#
# Ports (a second, private `make up` beside the usual one sets them all, e.g. from another clone):
#   CANOPEE_GATEWAY_PORT (8000), CANOPEE_TICKETING_PORT (8001), CANOPEE_NOTIFICATIONS_PORT (8002),
#   CANOPEE_FEEDBACK_PORT (8003), CANOPEE_ANALYTICS_PORT (8004), CANOPEE_MAILCATCHER_PORT (2525);
#   the infrastructure's (read by deploy/local/infra.sh too): CANOPEE_KAFKA_PORT (9092),
#   CANOPEE_KAFKA_CONTROLLER_PORT (9093), CANOPEE_MONGO_PORT (27017), CANOPEE_INFRA_DATA and
#   CANOPEE_INFRA_RUN (.local/data, .local/run). CANOPEE_KAFKA_BOOTSTRAP and CANOPEE_MONGO_URL, when
#   not set, follow CANOPEE_KAFKA_PORT and CANOPEE_MONGO_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.local/run"
OUTBOX="$RUN/outbox"
BIN="$ROOT/.venv/bin"
CANOPEE="$BIN/canopee"
mkdir -p "$RUN" "$OUTBOX/mail"

declare -A PORTS=(
  [gateway]="${CANOPEE_GATEWAY_PORT:-8000}"
  [ticketing]="${CANOPEE_TICKETING_PORT:-8001}"
  [notifications]="${CANOPEE_NOTIFICATIONS_PORT:-8002}"
  [feedback]="${CANOPEE_FEEDBACK_PORT:-8003}"
  [analytics]="${CANOPEE_ANALYTICS_PORT:-8004}"
)
SERVICES=(gateway ticketing notifications feedback analytics)
for svc in "${SERVICES[@]}"; do # the services read their port from CANOPEE_<SERVICE>_PORT
  export "CANOPEE_${svc^^}_PORT=${PORTS[$svc]}"
done
MAIL_PORT="${CANOPEE_MAILCATCHER_PORT:-2525}"
# the infrastructure deploy/local/infra.sh started (same variables, same defaults)
export CANOPEE_KAFKA_BOOTSTRAP="${CANOPEE_KAFKA_BOOTSTRAP:-127.0.0.1:${CANOPEE_KAFKA_PORT:-9092}}"
export CANOPEE_MONGO_URL="${CANOPEE_MONGO_URL:-mongodb://127.0.0.1:${CANOPEE_MONGO_PORT:-27017}}"
INFRA_DATA="${CANOPEE_INFRA_DATA:-$ROOT/.local/data}"
INFRA_RUN="${CANOPEE_INFRA_RUN:-$ROOT/.local/run}"
# survey links point at this feedback
export CANOPEE_FEEDBACK_SURVEY_URL_BASE="${CANOPEE_FEEDBACK_SURVEY_URL_BASE:-http://127.0.0.1:${PORTS[feedback]}}"
export CANOPEE_GATEWAY_URL="http://127.0.0.1:${PORTS[gateway]}"

BACKFILL_DAYS="${CANOPEE_DEMO_BACKFILL_DAYS:-3}"          # days of history before the first start
HISTORY_RATE="${CANOPEE_DEMO_HISTORY_REQUESTS_PER_DAY:-30}" # new requests per office per day, history
SIM_RATE="${CANOPEE_DEMO_REQUESTS_PER_DAY:-400}"          # live traffic: new requests per office per day
SIM_DURATION="${CANOPEE_DEMO_DURATION:-3600}"             # wall seconds of live traffic per start
TENANTS="${CANOPEE_DEMO_TENANTS:-1}"                      # 0: nobody answers the surveys
ANSWER_SECONDS="${CANOPEE_DEMO_ANSWER_SECONDS:-60}"        # median delay of a tenant's answer

say() { printf '[up] %s\n' "$*"; }

# --- secrets: random, generated once into .local/run, reused on every run ------------------------
secret() { # secret FILE: print the secret kept in .local/run/FILE, creating it the first time
  if [[ ! -s "$RUN/$1" ]]; then
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$RUN/$1")
    say "generated .local/run/$1" >&2 # not into the value captured by the caller
  fi
  cat "$RUN/$1"
}
CANOPEE_ADMIN_TOKEN="$(secret admin-token)"
export CANOPEE_ADMIN_TOKEN
# services that need their own secret get one when their settings declare it
if grep -q "form_secret" services/feedback/settings.py 2>/dev/null; then
  CANOPEE_FEEDBACK_FORM_SECRET="$(secret feedback-form-secret)"
  export CANOPEE_FEEDBACK_FORM_SECRET
fi
# the tenants' request-tracker links: ticketing serves them, notifications sends them (one secret)
CANOPEE_TRACKER_SECRET="$(secret tracker-secret)"
export CANOPEE_TRACKER_SECRET
export CANOPEE_TRACKER_BASE_URL="${CANOPEE_TRACKER_BASE_URL:-http://127.0.0.1:${PORTS[ticketing]}}"
if grep -q "webhook_secret" services/notifications/settings.py 2>/dev/null; then
  CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET="$(secret notifications-webhook-secret)"
  export CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET
fi

# --- demo outboxes: SMS to a file, e-mail to the local mail catcher -----------------------------
if [[ -f services/notifications/settings.py ]] && grep -q "sms_provider" services/notifications/settings.py; then
  export CANOPEE_NOTIFICATIONS_SMS_PROVIDER=file
  export CANOPEE_NOTIFICATIONS_SMS_FILE="$OUTBOX/sms.jsonl"
fi
HAVE_MAILCATCHER=0
if "$CANOPEE" mailcatcher --help >/dev/null 2>&1; then
  HAVE_MAILCATCHER=1
  if grep -q "smtp_port" services/notifications/settings.py 2>/dev/null; then
    export CANOPEE_NOTIFICATIONS_SMTP_HOST=127.0.0.1
    export CANOPEE_NOTIFICATIONS_SMTP_PORT="$MAIL_PORT"
  fi
fi

alive() { # alive NAME: the process recorded in NAME.pid is running
  local pidfile="$RUN/$1.pid"
  [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() { # start NAME COMMAND...: in the background, PID and log recorded
  local name="$1"
  shift
  if alive "$name"; then
    say "$name already running (pid $(cat "$RUN/$name.pid"))"
    return
  fi
  nohup "$@" >>"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  say "started $name (pid $!, log .local/run/$name.log)"
}

wait_ready() { # wait_ready NAME URL
  local name="$1" url="$2"
  for _ in $(seq 1 120); do
    if "$BIN/python" - "$url" <<'PY' 2>/dev/null; then
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
PY
      say "$name ready"
      return 0
    fi
    if ! alive "$name"; then
      say "$name stopped; last lines of .local/run/$name.log:"
      tail -n 20 "$RUN/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  say "$name not ready after 60 s (see .local/run/$name.log)"
  return 1
}

say "creating topics"
"$CANOPEE" topics create >/dev/null

if ((HAVE_MAILCATCHER)); then
  start mailcatcher "$CANOPEE" mailcatcher --port "$MAIL_PORT" --dir "$OUTBOX/mail"
fi

STARTED=()
for svc in "${SERVICES[@]}"; do
  if [[ -f "services/$svc/app.py" ]]; then
    start "$svc" "$CANOPEE" run "$svc"
    STARTED+=("$svc")
  else
    say "skipping $svc: not part of this build"
  fi
done

for svc in "${STARTED[@]}"; do
  wait_ready "$svc" "http://127.0.0.1:${PORTS[$svc]}/health/ready"
done

# demo traffic through the gateway: one simulated world, recorded in .local/run/demo-world and kept
# with the data: its history (BACKFILL_DAYS, light) is sent at once on the first start, then it goes
# on live on the wall clock (busier), so requests opened in the history are repaired and closed live
# and surveys go out from the first minutes. What is older than the history horizon (48 h) is
# recorded and counted, never texted nor e-mailed. A later start resumes the same world where the
# last one stopped (.local/run/simulator.checkpoint); `make reset` empties the data and the next
# start makes a new world.
if [[ " ${STARTED[*]} " == *" gateway "* ]]; then
  # the data's identity: Kafka's cluster id, new each time the data is formatted (after make reset)
  data_id="$(sed -n 's/^cluster\.id=//p' "$INFRA_DATA/kafka/meta.properties" 2>/dev/null || true)"
  data_id="${data_id:-store-$(cat "$INFRA_RUN/ferretdb.pid" 2>/dev/null || echo none)}"
  world=()
  read -r -a world 2>/dev/null <"$RUN/demo-world" || true
  if [[ "${world[0]:-}" != "$data_id" || ${#world[@]} -ne 4 ]]; then
    now="$(date +%s)"
    world=("$data_id" "$now" "$(date -u -d "@$((now - BACKFILL_DAYS * 86400))" +%Y-%m-%dT%H:%M:%S+00:00)"
      "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%S+00:00)")
    echo "${world[*]}" >"$RUN/demo-world"
    rm -f "$RUN/simulator.checkpoint"
    say "new demo world (seed ${world[1]}): $BACKFILL_DAYS days of history from ${world[2]}, then live traffic"
  fi
  start simulator "$CANOPEE" simulate --via gateway --gateway-url "$CANOPEE_GATEWAY_URL" --seed "${world[1]}" \
    --start "${world[2]}" --requests-per-day "$HISTORY_RATE" --live --live-from "${world[3]}" \
    --live-requests-per-day "$SIM_RATE" --checkpoint "$RUN/simulator.checkpoint" --duration "$SIM_DURATION" --quiet
  # the demo's tenants answer some of the survey invitations (page or SMS reply), never all
  if ((TENANTS)) && [[ " ${STARTED[*]} " == *" feedback "* ]] && "$CANOPEE" demo-tenants --help >/dev/null 2>&1; then
    tenants_args=(--sms-file "$OUTBOX/sms.jsonl" --seed "${world[1]}" --state "$RUN/demo-tenants.state"
      --notifications-url "http://127.0.0.1:${PORTS[notifications]}" --median-delay "$ANSWER_SECONDS")
    ((HAVE_MAILCATCHER)) && tenants_args+=(--mail-dir "$OUTBOX/mail")
    start demo-tenants "$CANOPEE" demo-tenants "${tenants_args[@]}"
  fi
fi

# a live survey link, once feedback has sent one (it travels in an SMS or an e-mail)
SURVEY=""
for _ in $(seq 1 40); do
  SURVEY="$(grep -rhoE "https?://[^ \"'<>\\]*/s/[A-Za-z0-9_-]+" "$OUTBOX" 2>/dev/null | tail -n 1 || true)"
  [[ -n "$SURVEY" ]] && break
  sleep 0.5
done

echo
echo "Canopée is running."
if [[ " ${STARTED[*]} " == *" analytics "* ]]; then
  echo "  Dashboard:        http://127.0.0.1:${PORTS[analytics]}/dashboard"
  echo "                    log in with the admin token: $CANOPEE_ADMIN_TOKEN"
  echo "                    (kept in .local/run/admin-token)"
fi
if [[ -n "$SURVEY" ]]; then
  echo "  A survey link:    $SURVEY"
else
  echo "  Survey links:     appear in the SMS/e-mail outbox below once repairs are done"
fi
echo "  Gateway:          http://127.0.0.1:${PORTS[gateway]}/v1/events (demo keys: <office>-demo-key)"
for svc in "${STARTED[@]}"; do
  printf '  %-17s http://127.0.0.1:%s/docs   http://127.0.0.1:%s/metrics\n' "$svc:" "${PORTS[$svc]}" "${PORTS[$svc]}"
done
echo "  SMS outbox:       $OUTBOX/sms.jsonl"
if ((HAVE_MAILCATCHER)); then
  echo "  E-mail outbox:    $OUTBOX/mail/ (one .eml per message; SMTP on 127.0.0.1:$MAIL_PORT)"
fi
if alive demo-tenants; then
  echo "  Demo tenants:     answer some surveys on the page or by SMS (.local/run/demo-tenants.log)"
fi
echo "  Logs and PIDs:    .local/run/"
echo "  Stop everything:  make down"
