#!/usr/bin/env bash
# Local real infrastructure without Docker: Apache Kafka 4.x (KRaft, single node) from Maven
# Central jars, and FerretDB 1.24 on SQLite (MongoDB wire protocol) built from deploy/local/ferretdb.
#
#   deploy/local/infra.sh up       fetch/build on first use, start both (fresh data), wait until they answer
#   deploy/local/infra.sh down     stop both by their recorded PIDs
#   deploy/local/infra.sh status   say what runs
#
# Everything lives in the git-ignored .local/ folder: cache/ (jars), bin/ (ferretdb), run/ (pids,
# logs, data). Ports: CANOPEE_KAFKA_PORT (9092), CANOPEE_KAFKA_CONTROLLER_PORT (9093),
# CANOPEE_MONGO_PORT (27017).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
LIBS="$LOCAL/cache/kafka-libs"
BIN="$LOCAL/bin"
RUN="$LOCAL/run"
KAFKA_PORT="${CANOPEE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CANOPEE_KAFKA_CONTROLLER_PORT:-9093}"
MONGO_PORT="${CANOPEE_MONGO_PORT:-27017}"
WAIT_SECONDS="${CANOPEE_INFRA_WAIT:-120}"

mkdir -p "$LOCAL/cache" "$BIN" "$RUN"

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

alive() { # alive NAME: the recorded PID runs
  local pidfile="$RUN/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch_kafka() {
  if compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then return; fi
  command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch Kafka's jars"
  say "fetching Apache Kafka jars from Maven Central (first run only)…"
  local tmp="$LIBS.tmp"
  rm -rf "$tmp"
  mvn -B -q -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp"
  local jar
  jar=$(compgen -G "$tmp/kafka_2.13-*.jar" | head -n1) || die "kafka_2.13 jar missing after download"
  for class in kafka/Kafka.class kafka/tools/StorageTool.class; do
    unzip -l "$jar" "$class" >/dev/null 2>&1 || die "$class not found in $(basename "$jar")"
  done
  mv "$tmp" "$LIBS"
}

build_ferretdb() {
  local src="$ROOT/deploy/local/ferretdb"
  if [[ -x "$BIN/ferretdb" && "$BIN/ferretdb" -nt "$src/main.go" && "$BIN/ferretdb" -nt "$src/go.sum" ]]; then return; fi
  command -v go >/dev/null || die "go is needed to build FerretDB"
  say "building FerretDB 1.24 (first run only)…"
  (cd "$src" && go build -o "$BIN/ferretdb.tmp" . && mv "$BIN/ferretdb.tmp" "$BIN/ferretdb")
}

start_kafka() {
  if alive kafka; then say "kafka already running (pid $(cat "$RUN/kafka.pid"))"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process"
  local dir="$RUN/kafka"
  rm -rf "$dir"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
  local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/deploy/local/kafka/log4j2.xml")
  java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    --cluster-id="$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
    -c "$dir/server.properties" -g >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  setsid nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$RUN/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  say "kafka starting (pid $!), log .local/run/kafka.log"
}

start_ferretdb() {
  if alive ferretdb; then say "ferretdb already running (pid $(cat "$RUN/ferretdb.pid"))"; return; fi
  port_open "$MONGO_PORT" && die "port $MONGO_PORT is taken by another process"
  local dir="$RUN/ferretdb"
  rm -rf "$dir"
  mkdir -p "$dir"
  setsid nohup "$BIN/ferretdb" -listen "127.0.0.1:$MONGO_PORT" -dir "$dir" \
    >"$RUN/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$RUN/ferretdb.pid"
  say "ferretdb starting (pid $!), log .local/run/ferretdb.log"
}

wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS)) kafka_ok="" mongo_ok=""
  while ((SECONDS < deadline)); do
    if [[ -z "$kafka_ok" ]]; then
      alive kafka || { tail -n 30 "$RUN/kafka.log" >&2; die "kafka exited during start-up"; }
      if grep -q "Kafka Server started" "$RUN/kafka.log" 2>/dev/null && port_open "$KAFKA_PORT"; then
        kafka_ok=1
        say "kafka ready on 127.0.0.1:$KAFKA_PORT"
      fi
    fi
    if [[ -z "$mongo_ok" ]]; then
      alive ferretdb || { tail -n 30 "$RUN/ferretdb.log" >&2; die "ferretdb exited during start-up"; }
      if port_open "$MONGO_PORT"; then
        mongo_ok=1
        say "ferretdb ready on 127.0.0.1:$MONGO_PORT"
      fi
    fi
    [[ -n "$kafka_ok" && -n "$mongo_ok" ]] && return 0
    sleep 0.5
  done
  [[ -n "$kafka_ok" ]] || tail -n 30 "$RUN/kafka.log" >&2
  [[ -n "$mongo_ok" ]] || tail -n 30 "$RUN/ferretdb.log" >&2
  die "infrastructure not ready after ${WAIT_SECONDS}s"
}

stop() { # stop NAME: SIGTERM by recorded PID, SIGKILL after 20 s
  local pidfile="$RUN/$1.pid" pid
  [[ -f "$pidfile" ]] || { say "$1 not running"; return; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$1 (pid $pid) did not stop in 20 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "$1 stopped (pid $pid)"
  else
    say "$1 not running (stale pid $pid)"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  up)
    started=$SECONDS
    fetch_kafka
    build_ferretdb
    start_kafka
    start_ferretdb
    wait_ready
    say "up in $((SECONDS - started)) s"
    ;;
  down)
    stop kafka
    stop ferretdb
    ;;
  status)
    for name in kafka ferretdb; do
      if alive "$name"; then say "$name running (pid $(cat "$RUN/$name.pid"))"; else say "$name stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
