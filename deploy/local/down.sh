#!/usr/bin/env bash
# `make down`: stop what deploy/local/up.sh started, by the PIDs it recorded (never by name).
# Harmless when re-run: stale PID files are removed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/.local/run"
[[ -d "$RUN" ]] || exit 0

# the demo tenants and the simulator first (they feed the services), then the services, the mail
# catcher last
ORDER=(demo-tenants simulator gateway ticketing notifications feedback analytics mailcatcher)
for name in "${ORDER[@]}"; do
  pidfile="$RUN/$name.pid"
  [[ -s "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      echo "[down] $name (pid $pid) killed after 10 s"
    else
      echo "[down] stopped $name (pid $pid)"
    fi
  fi
  rm -f "$pidfile"
done
