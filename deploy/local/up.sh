#!/usr/bin/env bash
# `make up`: start the five services (and a demo mail catcher) in the background, each recorded by
# PID in .local/run/<name>.pid with its log in .local/run/<name>.log, create the topics, wait until
# every service is ready, start the simulator and print where to look. Harmless when re-run: what is
# already running is left alone. `make down` (deploy/local/down.sh) stops it all by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.local/run"
OUTBOX="$RUN/outbox"
BIN="$ROOT/.venv/bin"
CANOPEE="$BIN/canopee"
mkdir -p "$RUN" "$OUTBOX/mail"

declare -A PORTS=([gateway]=8000 [ticketing]=8001 [notifications]=8002 [feedback]=8003 [analytics]=8004)
SERVICES=(gateway ticketing notifications feedback analytics)
MAIL_PORT=2525
BACKFILL_DAYS="${CANOPEE_DEMO_BACKFILL_DAYS:-3}"  # history sent once, as fast as possible, ending now
SIM_RATE="${CANOPEE_DEMO_REQUESTS_PER_DAY:-400}"  # live traffic: new requests per office per day
SIM_DURATION="${CANOPEE_DEMO_DURATION:-3600}"     # wall seconds of live traffic

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

# demo traffic through the gateway: a few days of history once (the dashboard has something to
# show; notifications only text about the last 48 hours), then live traffic in real time
if [[ " ${STARTED[*]} " == *" gateway "* ]]; then
  GATEWAY_URL="http://127.0.0.1:${PORTS[gateway]}"
  # the store starts empty with each start of the infrastructure, so the history is sent once per
  # store process: the marker holds the PID of the store it was sent to
  store_pid="$(cat "$RUN/ferretdb.pid" 2>/dev/null || true)"
  if [[ "$(cat "$RUN/backfill.done" 2>/dev/null || true)" != "$store_pid" ]] && ((BACKFILL_DAYS > 0)); then
    say "sending $BACKFILL_DAYS days of history through the gateway"
    "$CANOPEE" simulate --via gateway --gateway-url "$GATEWAY_URL" --seed 1 --days "$BACKFILL_DAYS" \
      && echo "$store_pid" >"$RUN/backfill.done"
  fi
  start simulator "$CANOPEE" simulate --via gateway --gateway-url "$GATEWAY_URL" --seed "$(date +%s)" \
    --start "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" --speed 1 --requests-per-day "$SIM_RATE" \
    --duration "$SIM_DURATION" --quiet
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
echo "  Logs and PIDs:    .local/run/"
echo "  Stop everything:  make down"
