#!/usr/bin/env bash
# Local real infrastructure without Docker: Apache Kafka 4.x (KRaft, single node) from Maven
# Central jars, and FerretDB 1.24 on SQLite (MongoDB wire protocol) built from deploy/local/ferretdb.
#
#   deploy/local/infra.sh up       fetch/build on first use, start what is not running on the data
#                                  kept from the last run (the first start formats it), wait until
#                                  both answer (Kafka: "Kafka Server started" + port; FerretDB: a
#                                  MongoDB ping)
#   deploy/local/infra.sh down     stop both by their recorded PIDs (SIGTERM, SIGKILL after 20 s);
#                                  their data stays
#   deploy/local/infra.sh reset    stop both, then delete their data (every topic, request, survey
#                                  and indicator): the next `up` starts empty
#   deploy/local/infra.sh status   say what runs (exit 0 when both run, 3 otherwise)
#   deploy/local/infra.sh build    only fetch Kafka's jars and build FerretDB when missing (the
#                                  container images of deploy/images/ take them)
#
# Everything lives in the git-ignored .local/ folder of the project:
#   .local/cache/kafka-libs/   Kafka's jars (mvn dependency:copy-dependencies; ~/.m2 caches them)
#   .local/bin/ferretdb        FerretDB runner (go build)
#   .local/run/                kafka.pid, ferretdb.pid, kafka.log (log4j), kafka.out (JVM stdout/err),
#                              ferretdb.log, kafka/server.properties
#   .local/data/               the data, kept between runs: kafka/ (KRaft log dirs; Kafka recovers
#                              them after a crash), ferretdb/ (SQLite files)
# CANOPEE_INFRA_DATA and CANOPEE_INFRA_RUN name other folders for the data and the PID files and
# logs (with other ports, a second, private pair of Kafka and store beside the usual one).
# Environment: CANOPEE_KAFKA_PORT (9092), CANOPEE_KAFKA_CONTROLLER_PORT (9093), CANOPEE_MONGO_PORT
# (27017), CANOPEE_INFRA_WAIT (seconds to wait for readiness, 120), CANOPEE_KAFKA_HEAP (512m),
# CANOPEE_FERRETDB_DEBUG_ADDR (host:port where the store serves Go's /debug/pprof/; unset: off).
# CANOPEE_KAFKA_SASL_PORT (default: the Kafka port + 2, e.g. 9094; empty: none) is a SASL_SSL
# listener beside the plaintext one, as a secured cluster has: a local CA and a
# broker certificate for 127.0.0.1/localhost are generated into <run>/tls/ (the CA is ca.pem), the
# user CANOPEE_KAFKA_SASL_USER (canopee) may log in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, its
# password generated once into <run>/tls/password (SCRAM credentials are stored when the data is
# formatted: set the port before the first start, or `make reset`).
# CANOPEE_KAFKA_NODES (1) = 3 starts a three-node KRaft cluster (each node broker and controller;
# ports +100 per node: 9092/9192/9292, controllers 9093/9193/9293, SASL_SSL 9094/9194/9294;
# replication factor 3 and min.insync.replicas 2 by default); a different node count than the data
# was formatted for needs `make reset`.
# Processes are only ever signalled by the PID this script recorded, after checking that the PID
# still runs the program it started (never by process name).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local"
LOCAL="$ROOT/.local"
LIBS="$LOCAL/cache/kafka-libs"
BIN="$LOCAL/bin"
RUN="${CANOPEE_INFRA_RUN:-$LOCAL/run}"
DATA="${CANOPEE_INFRA_DATA:-$LOCAL/data}"
KAFKA_PORT="${CANOPEE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CANOPEE_KAFKA_CONTROLLER_PORT:-9093}"
MONGO_PORT="${CANOPEE_MONGO_PORT:-27017}"
WAIT_SECONDS="${CANOPEE_INFRA_WAIT:-120}"
KAFKA_HEAP="${CANOPEE_KAFKA_HEAP:-512m}"
FERRETDB_DEBUG_ADDR="${CANOPEE_FERRETDB_DEBUG_ADDR:-}"
SASL_PORT="${CANOPEE_KAFKA_SASL_PORT-$((KAFKA_PORT + 2))}" # a SASL_SSL listener there (empty: none)
SASL_USER="${CANOPEE_KAFKA_SASL_USER:-canopee}"
NODES="${CANOPEE_KAFKA_NODES:-1}" # 3: a three-node cluster (replication 3, min ISR 2), ports +100 per node
STOP_SECONDS=20

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }
[[ "$NODES" =~ ^[1-9]$ ]] || die "CANOPEE_KAFKA_NODES: expected 1 to 9, got '$NODES'"
now_us() { # microseconds since the epoch
  if [[ -n "${EPOCHREALTIME:-}" ]]; then local t="${EPOCHREALTIME/[.,]/}"; echo "$((10#$t))"; else echo "$(($(date +%s%N) / 1000))"; fi
}
secs() { printf '%d.%d' "$(($1 / 1000000))" "$((($1 % 1000000) / 100000))"; } # µs -> "s.d"

# ---------------------------------------------------------------- processes, by recorded PID only
marker() { # the command-line word that identifies our process of this component
  case "$1" in
    kafka | kafka-*) echo "kafka.Kafka" ;;
    ferretdb) echo "$BIN/ferretdb" ;;
  esac
}

recorded_pid() { # recorded_pid NAME: print the recorded PID if the file holds one
  local pidfile="$RUN/$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  echo "$pid"
}

runs_ours() { # runs_ours NAME PID: PID is alive and still runs what we started (not a reused PID)
  local args
  kill -0 "$2" 2>/dev/null || return 1
  if [[ -r "/proc/$2/cmdline" ]]; then
    args="$(tr '\0' ' ' <"/proc/$2/cmdline")"
  else
    args="$(ps -o args= -p "$2" 2>/dev/null)" || return 1
  fi
  [[ "$args" == *"$(marker "$1")"* ]]
}

alive() { # alive NAME: the recorded PID runs our process
  local pid
  pid="$(recorded_pid "$1")" && runs_ours "$1" "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

launch() { # launch NAME LOGFILE CMD...: start detached (own session), record the PID
  local name="$1" log="$2" pidfile="$RUN/$1.pid"
  shift 2
  rm -f "$pidfile"
  # the inner shell writes its own PID, then exec's the program: the PID file names the program
  # itself, whatever setsid does about forking
  # (fd 9, the lock of this script, is closed: a daemon holding it would block every later run)
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 </dev/null 9>&- &
  local _
  for _ in $(seq 1 50); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
  done
  [[ -s "$pidfile" ]] || die "$name did not start (no PID recorded); see ${log#"$ROOT/"}"
}

tail_logs() { # tail_logs FILE...: show the end of the logs that exist
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf '[infra] --- last lines of %s ---\n' "${f#"$ROOT/"}" >&2
    tail -n 40 "$f" >&2
  done
}

# ---------------------------------------------------------------- fetch / build (first use only)
jar_has() { # jar_has JAR ENTRY
  if command -v unzip >/dev/null; then
    unzip -l "$1" "$2" >/dev/null 2>&1
  else
    jar tf "$1" | grep -qxF "$2"
  fi
}

verify_kafka_jars() { # verify_kafka_jars DIR
  local jar
  jar="$(compgen -G "$1/kafka_2.13-*.jar" | head -n1)" || return 1
  for entry in kafka/Kafka.class kafka/tools/StorageTool.class; do
    jar_has "$jar" "$entry" || { say "$entry not found in $(basename "$jar")"; return 1; }
  done
}

fetch_kafka() {
  local pom="$HERE/kafka/pom.xml" stamp="$LIBS/.pom"
  # the cache is keyed by the pom: changing a version there fetches again
  if [[ -f "$stamp" ]] && cmp -s "$pom" "$stamp" && verify_kafka_jars "$LIBS"; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka's jars"
  say "fetching Apache Kafka jars with Maven (first use only)…"
  local tmp="$LIBS.tmp"
  rm -rf "$tmp"
  mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" ||
    die "mvn could not fetch Kafka's jars (command: mvn -B -q -f deploy/local/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime)"
  verify_kafka_jars "$tmp" || die "the fetched jars do not hold kafka/Kafka.class and kafka/tools/StorageTool.class"
  cp "$pom" "$tmp/.pom"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  say "Kafka jars in .local/cache/kafka-libs ($(compgen -G "$LIBS/*.jar" | wc -l) jars, $(basename "$(compgen -G "$LIBS/kafka_2.13-*.jar")"))"
}

build_ferretdb() {
  local src="$HERE/ferretdb" f
  if [[ -x "$BIN/ferretdb" ]]; then
    local stale=""
    for f in main.go go.mod go.sum $(cd "$src" && find _patch -type f); do
      [[ "$src/$f" -nt "$BIN/ferretdb" ]] && stale=1
    done
    [[ -z "$stale" ]] && return 0
  fi
  command -v go >/dev/null || die "Go is needed to build the FerretDB runner"
  say "building FerretDB 1.24 with the local patch (first use only; downloads Go modules)…"
  # The module source is copied out of Go's read-only cache, the files of _patch/ are laid over it
  # (deploy/local/ferretdb/README.md says why) and the runner is built against that copy through a
  # generated go.mod whose replace directive points at it; the committed go.mod stays untouched.
  local work="$LOCAL/cache/ferretdb-src" mod
  (cd "$src" && go mod download github.com/FerretDB/FerretDB) || die "go could not download FerretDB (command: cd deploy/local/ferretdb && go mod download)"
  mod="$(cd "$src" && go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)" || die "go list of the FerretDB module failed"
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "$mod" "$work/FerretDB"
  chmod -R u+w "$work/FerretDB"
  cp -r "$src/_patch/." "$work/FerretDB/"
  cp "$src/go.mod" "$work/go.mod"
  cp "$src/go.sum" "$work/go.sum"
  printf '\nreplace github.com/FerretDB/FerretDB => %s\n' "$work/FerretDB" >>"$work/go.mod"
  (cd "$src" && go build -modfile "$work/go.mod" -buildvcs=false -trimpath -o "$BIN/ferretdb.tmp" .) ||
    die "go build of deploy/local/ferretdb failed"
  mv "$BIN/ferretdb.tmp" "$BIN/ferretdb"
}

# ---------------------------------------------------------------- start
new_cluster_id() { # 16 random bytes, base64url without padding (what kafka-storage random-uuid prints)
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* && "$id" != "AAAAAAAAAAAAAAAAAAAAAA" ]] && break # a leading '-' reads as an option
  done
  echo "$id"
}

make_tls() { # make_tls DIR: a local CA, a broker certificate (PEM keystore) and a SASL password, once
  local dir="$1"
  [[ -s "$dir/broker.pem" && -s "$dir/ca.pem" && -s "$dir/password" ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed for the SASL_SSL listener"
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=canopee local CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/broker.key" -out "$dir/broker.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
    openssl x509 -req -in "$dir/broker.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
      -extfile "$dir/san.ext" -out "$dir/broker.crt" 2>/dev/null
    # Kafka's PEM keystore: the private key (PKCS#8) then the certificate chain
    openssl pkcs8 -topk8 -nocrypt -in "$dir/broker.key" >"$dir/broker.pem"
    cat "$dir/broker.crt" "$dir/ca.pem" >>"$dir/broker.pem"
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/password"
  ) || die "could not generate the local certificates in ${dir#"$ROOT/"}"
  say "generated a local CA and broker certificate (${dir#"$ROOT/"}/ca.pem)"
}

# node I of the cluster: its name (kafka, kafka-2, …), ports (+100 per node), folders
node_name() { [[ "$1" == 1 ]] && echo kafka || echo "kafka-$1"; }
node_port() { echo $(($1 + 100 * ($2 - 1))); } # node_port BASE I
node_logs() { [[ "$1" == 1 ]] && echo "$RUN" || echo "$RUN/kafka-$1"; }
node_data() { [[ "$1" == 1 ]] && echo "$DATA/kafka" || echo "$DATA/kafka-$1"; }
kafka_nodes() { seq 1 "$NODES"; }

start_kafka() { # start_kafka I [format]: with "format", only write its configuration and format its data
  local i="$1" only_format="${2:-}" name
  name="$(node_name "$i")"
  if alive "$name"; then
    [[ -n "$only_format" ]] || say "$name already running (pid $(recorded_pid "$name")), left as it is"
    return 0
  fi
  rm -f "$RUN/$name.pid"
  local broker_port controller_port sasl_port="" logs data dir="$RUN/$name"
  broker_port="$(node_port "$KAFKA_PORT" "$i")"
  controller_port="$(node_port "$CONTROLLER_PORT" "$i")"
  [[ -n "$SASL_PORT" ]] && sasl_port="$(node_port "$SASL_PORT" "$i")"
  logs="$(node_logs "$i")"
  data="$(node_data "$i")"
  local port
  for port in "$broker_port" "$controller_port" $sasl_port; do
    port_open "$port" && die "port $port is already taken by a process this script did not start (set CANOPEE_KAFKA_PORT / CANOPEE_KAFKA_CONTROLLER_PORT / CANOPEE_KAFKA_SASL_PORT)"
  done
  mkdir -p "$dir" "$data" "$logs"
  rm -rf "$logs"/kafka.log* "$logs/kafka.out"
  local listeners="PLAINTEXT://127.0.0.1:$broker_port" advertised="PLAINTEXT://127.0.0.1:$broker_port"
  local protocols="PLAINTEXT:PLAINTEXT" sasl_props="" scram=() tls="$RUN/tls" password=""
  if [[ -n "$sasl_port" ]]; then
    make_tls "$tls"
    password="$(cat "$tls/password")"
    listeners+=",SASL_SSL://127.0.0.1:$sasl_port"
    advertised+=",SASL_SSL://localhost:$sasl_port"
    protocols+=",SASL_SSL:SASL_SSL"
    sasl_props="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$password\";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$password]" --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$password]")
  fi
  local voters="" n replicas=1 isr=1
  for n in $(kafka_nodes); do voters+="${voters:+,}$n@127.0.0.1:$(node_port "$CONTROLLER_PORT" "$n")"; done
  if ((NODES >= 3)); then replicas=3 isr=2; fi
  cat >"$dir/server.properties" <<PROPS
# generated by deploy/local/infra.sh: node $i of $NODES, KRaft, combined broker + controller
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols,CONTROLLER:PLAINTEXT
$sasl_props
log.dirs=$data
num.partitions=3
default.replication.factor=$replicas
min.insync.replicas=$isr
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
  local java_opts=(-Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true "-Dkafka.logs.dir=$logs"
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
  # Kafka 4.x: format with static voters (controller.quorum.voters) takes no --standalone /
  # --initial-controllers; only the first start formats, later ones reuse the data. Every node of
  # a cluster is formatted with the same cluster id.
  if [[ -f "$data/meta.properties" ]]; then
    [[ -n "$only_format" || " $FORMATTED " == *" $name "* ]] || say "$name data kept from the last run (${data#"$ROOT/"}; make reset empties it)"
  else
    [[ -s "$DATA/kafka-cluster-id" ]] || new_cluster_id >"$DATA/kafka-cluster-id"
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
      --cluster-id="$(cat "$DATA/kafka-cluster-id")" -c "$dir/server.properties" -g "${scram[@]}" >"$dir/format.out" 2>&1 ||
      { tail_logs "$dir/format.out" "$logs/kafka.log"; die "$name storage format failed"; }
    say "$name data formatted (${data#"$ROOT/"})"
    FORMATTED+=" $name"
  fi
  [[ -z "$only_format" ]] || return 0
  launch "$name" "$logs/kafka.out" java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
  STARTED+=" $name"
  say "$name starting (pid $(recorded_pid "$name")) on 127.0.0.1:$broker_port${sasl_port:+ and SASL_SSL on localhost:$sasl_port}, log ${logs#"$ROOT/"}/kafka.log"
}

check_node_count() { # the data was formatted for a number of nodes: another needs `make reset`
  local kept="$DATA/kafka-nodes"
  if [[ -s "$kept" ]] && [[ "$(cat "$kept")" != "$NODES" ]]; then
    die "the Kafka data was made by a $(cat "$kept")-node cluster; CANOPEE_KAFKA_NODES=$NODES needs empty data (make reset)"
  fi
  mkdir -p "$DATA"
  echo "$NODES" >"$kept"
}

start_ferretdb() {
  if alive ferretdb; then say "ferretdb already running (pid $(recorded_pid ferretdb)), left as it is"; return 0; fi
  rm -f "$RUN/ferretdb.pid"
  port_open "$MONGO_PORT" && die "port $MONGO_PORT is already taken by a process this script did not start (set CANOPEE_MONGO_PORT)"
  local dir="$DATA/ferretdb"
  [[ -d "$dir" ]] && say "store data kept from the last run (${dir#"$ROOT/"}; make reset empties it)"
  mkdir -p "$dir"
  local extra=()
  [[ -n "$FERRETDB_DEBUG_ADDR" ]] && extra=(-debug-addr "$FERRETDB_DEBUG_ADDR")
  launch ferretdb "$RUN/ferretdb.log" "$BIN/ferretdb" -listen "127.0.0.1:$MONGO_PORT" -dir "$dir" "${extra[@]}"
  STARTED+=" ferretdb"
  say "ferretdb starting (pid $(recorded_pid ferretdb)) on 127.0.0.1:$MONGO_PORT, log ${RUN#"$ROOT/"}/ferretdb.log"
}

kafka_ready() { # kafka_ready I
  grep -qs "Kafka Server started" "$(node_logs "$1")/kafka.log" && port_open "$(node_port "$KAFKA_PORT" "$1")"
}
ferretdb_ready() { "$BIN/ferretdb" -ping "127.0.0.1:$MONGO_PORT" -timeout 1s >/dev/null 2>&1; }

wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS)) kafka_ok="" mongo_ok="" i name pending
  while :; do
    pending=""
    for i in $(kafka_nodes); do
      [[ " $kafka_ok " == *" $i "* ]] && continue
      name="$(node_name "$i")"
      alive "$name" || { tail_logs "$(node_logs "$i")/kafka.out" "$(node_logs "$i")/kafka.log"; die "$name exited during start-up"; }
      if kafka_ready "$i"; then
        kafka_ok+=" $i"
        say "$name ready on 127.0.0.1:$(node_port "$KAFKA_PORT" "$i")"
      else
        pending+=" $name"
      fi
    done
    if [[ -z "$mongo_ok" ]]; then
      alive ferretdb || { tail_logs "$RUN/ferretdb.log"; die "ferretdb exited during start-up"; }
      ferretdb_ready && { mongo_ok=1; say "ferretdb ready on 127.0.0.1:$MONGO_PORT (MongoDB ping ok)"; }
    fi
    [[ -z "$pending" && -n "$mongo_ok" ]] && return 0
    ((SECONDS < deadline)) || break
    sleep 0.25
  done
  for i in $(kafka_nodes); do
    [[ " $kafka_ok " == *" $i "* ]] || tail_logs "$(node_logs "$i")/kafka.out" "$(node_logs "$i")/kafka.log"
  done
  [[ -n "$mongo_ok" ]] || tail_logs "$RUN/ferretdb.log"
  [[ -n "$mongo_ok" ]] || pending+=" ferretdb"
  die "not ready after ${WAIT_SECONDS} s:$pending (left running for inspection; stop with deploy/local/infra.sh down)"
}

# ---------------------------------------------------------------- stop
stop() { # stop NAME: SIGTERM to the recorded PID, SIGKILL after STOP_SECONDS
  local name="$1" pidfile="$RUN/$1.pid" pid
  if ! pid="$(recorded_pid "$name")"; then
    rm -f "$pidfile"
    say "$name not running"
    return 0
  fi
  if ! runs_ours "$name" "$pid"; then
    say "$name not running (stale pid file: pid $pid is gone or is another program, left alone)"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_SECONDS))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) still running after ${STOP_SECONDS} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$pidfile"
  say "$name stopped (pid $pid)"
}

stop_all() { # every Kafka node with a PID file (whatever the node count now), then the store
  local pidfile found=""
  for pidfile in "$RUN"/kafka.pid "$RUN"/kafka-[0-9]*.pid; do
    [[ -e "$pidfile" ]] || continue
    found=1
    stop "$(basename "$pidfile" .pid)"
  done
  [[ -n "$found" ]] || say "kafka not running"
  stop ferretdb
}

# ---------------------------------------------------------------- main
lock() { # one infra.sh at a time on this project folder
  mkdir -p "$RUN"
  if command -v flock >/dev/null; then
    exec 9>"$RUN/.infra.lock"
    flock -w 300 9 || die "another deploy/local/infra.sh is running (lock .local/run/.infra.lock)"
  fi
}

case "${1:-}" in
  up)
    mkdir -p "$LOCAL/cache" "$BIN" "$RUN"
    lock
    command -v java >/dev/null || die "Java (17 or later) is needed to run Kafka"
    t0="$(now_us)"
    fetch_kafka
    build_ferretdb
    t1="$(now_us)"
    STARTED=""
    check_node_count
    # every node formatted first, then all launched together: a node waits for a quorum of
    # controllers (about a minute at most) and formatting takes long on a busy machine
    FORMATTED=""
    for i in $(kafka_nodes); do start_kafka "$i" format; done
    for i in $(kafka_nodes); do start_kafka "$i"; done
    start_ferretdb
    wait_ready
    t2="$(now_us)"
    say "up: fetch/build $(secs $((t1 - t0))) s, start until ready $(secs $((t2 - t1))) s, total $(secs $((t2 - t0))) s (started:${STARTED:- nothing, both were running})"
    servers=""
    for i in $(kafka_nodes); do servers+="${servers:+,}127.0.0.1:$(node_port "$KAFKA_PORT" "$i")"; done
    say "Kafka $servers, MongoDB-wire store mongodb://127.0.0.1:$MONGO_PORT"
    ;;
  build)
    mkdir -p "$LOCAL/cache" "$BIN" "$RUN"
    lock
    fetch_kafka
    build_ferretdb
    ;;
  down)
    mkdir -p "$RUN"
    lock
    stop_all
    ;;
  reset)
    mkdir -p "$RUN"
    lock
    stop_all
    rm -rf "$DATA"/kafka "$DATA"/kafka-[0-9]* "$DATA/kafka-cluster-id" "$DATA/kafka-nodes" "$DATA/ferretdb"
    say "data deleted (${DATA#"$ROOT/"}/kafka*, ${DATA#"$ROOT/"}/ferretdb): every topic and database is gone; the next up starts empty"
    ;;
  status)
    rc=0
    for name in $(for i in $(kafka_nodes); do node_name "$i"; done) ferretdb; do
      if alive "$name"; then
        case "$name" in
          kafka*) i="${name#kafka-}"; [[ "$i" == kafka ]] && i=1
            port="$(node_port "$KAFKA_PORT" "$i")"; kafka_ready "$i" && state="answers" || state="not answering yet" ;;
          ferretdb) port="$MONGO_PORT"; ferretdb_ready && state="answers to ping" || state="not answering yet" ;;
        esac
        say "$name running (pid $(recorded_pid "$name")), 127.0.0.1:$port $state"
      else
        say "$name stopped"
        rc=3
      fi
    done
    exit "$rc"
    ;;
  *)
    echo "usage: $0 up|down|reset|status|build" >&2
    exit 2
    ;;
esac
