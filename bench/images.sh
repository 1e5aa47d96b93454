#!/usr/bin/env bash
# Benchmark of the services' image (deploy/docker/Dockerfile, multi-stage, runtime pins only) against
# the previous single-stage `pip install .` image (bench/images/Dockerfile.single-stage, the same
# Debian base), both built in this run by deploy/images/build.sh:
#   - size: unpacked (podman's image size), above the shared base, and compressed (gzip -6 of
#     `podman save`, about what a registry stores and a node pulls);
#   - time from `podman run` to a 200 on /health/ready, per service, each image in turn (Kafka and the
#     store run as containers from the local images on a private podman network);
#   - time from `podman stop` (SIGTERM) to the container's end.
#   bash bench/images.sh          (ROUNDS=2 by default; CANOPEE_BENCH_PORT_BASE, default 28400)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=deploy/images/env.sh
source deploy/images/env.sh
ROUNDS="${ROUNDS:-2}"
B="${CANOPEE_BENCH_PORT_BASE:-28400}"
NET=canopee-bench
SERVICES=(gateway ticketing notifications feedback analytics)
declare -A DEFAULT_PORT=([gateway]=8000 [ticketing]=8001 [notifications]=8002 [feedback]=8003 [analytics]=8004)

bash deploy/images/build.sh previous

now_ms() { date +%s%3N; }
started=()
cleanup() {
  local c
  for c in "${started[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  podman network rm -f "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

echo
echo "== image size"
base_size="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"
printf '%-48s %10s %12s %12s\n' image unpacked "above base" compressed
declare -A SIZE=() GZ=()
for image in "$CANOPEE_IMAGE" "$PREVIOUS_IMAGE"; do
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  gz="$(podman save "$image" 2>/dev/null | gzip -6 | wc -c)"
  printf '%-48s %8d MB %10d MB %10d MB\n' "$image" $((size / 1000000)) $(((size - base_size) / 1000000)) $((gz / 1000000))
  SIZE[$image]=$size GZ[$image]=$gz
done
awk -v a="${SIZE[$CANOPEE_IMAGE]}" -v b="${SIZE[$PREVIOUS_IMAGE]}" -v c="${GZ[$CANOPEE_IMAGE]}" -v d="${GZ[$PREVIOUS_IMAGE]}" -v base="$base_size" \
  'BEGIN { printf "ratio new/previous: unpacked %.2f, above the base %.2f, compressed %.2f\n", a / b, (a - base) / (b - base), c / d }'

echo
echo "== infrastructure for the start-up times (containers on network $NET)"
podman network create "$NET" >/dev/null
podman run -d --name bench-kafka --network "$NET" --network-alias kafka \
  -e KAFKA_NODE_ID=1 -e KAFKA_PROCESS_ROLES=broker,controller \
  -e KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093 -e KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka:9092 \
  -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT \
  -e KAFKA_CONTROLLER_QUORUM_VOTERS=1@kafka:9093 -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
  -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
  -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 -e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1 \
  -e KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 "$KAFKA_IMAGE" >/dev/null
started+=(bench-kafka)
podman run -d --name bench-mongo --network "$NET" --network-alias mongo "$FERRETDB_IMAGE" >/dev/null
started+=(bench-mongo)
podman run --rm --network "$NET" -e CANOPEE_KAFKA_BOOTSTRAP=kafka:9092 "$CANOPEE_IMAGE" topics create --wait 180 >/dev/null
echo "Kafka and the store ready, topics created"

ENV=(-e CANOPEE_KAFKA_BOOTSTRAP=kafka:9092 -e CANOPEE_MONGO_URL=mongodb://mongo:27017
  -e CANOPEE_ADMIN_TOKEN=bench-admin-token-0123456789abcdef -e CANOPEE_FEEDBACK_FORM_SECRET=bench-form-secret-0123456789abcdef0123
  -e CANOPEE_OFFICES_FILE=/etc/canopee/offices/offices.toml
  -v "$ROOT/deploy/offices.demo.toml:/etc/canopee/offices/offices.toml:ro")
for s in "${SERVICES[@]}"; do ENV+=(-e "CANOPEE_${s^^}_HOST=0.0.0.0"); done

ready_ms() { # ready_ms IMAGE SERVICE PORT: ms from `podman run` to 200 on /health/ready (stop ms in STOP_MS)
  local image="$1" service="$2" port="$3" name="bench-$2" t0 t1 deadline
  t0="$(now_ms)"
  podman run -d --name "$name" --network "$NET" -p "127.0.0.1:$port:${DEFAULT_PORT[$service]}" "${ENV[@]}" \
    "$image" run "$service" >/dev/null
  started+=("$name")
  deadline=$((t0 + 300000))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null; do
    (($(now_ms) < deadline)) || { podman logs --tail 20 "$name" >&2; die "$service ($image) not ready in 300 s"; }
    sleep 0.1
  done
  t1="$(now_ms)"
  READY_MS=$((t1 - t0))
  t0="$(now_ms)"
  podman stop --time 30 "$name" >/dev/null
  STOP_MS=$(($(now_ms) - t0))
  podman rm -f "$name" >/dev/null
}

echo
echo "== time from podman run to /health/ready, and from podman stop (SIGTERM) to the end, in seconds"
printf '%-14s %-6s %22s %22s\n' service round "ready new / previous" "stop new / previous"
for s in "${SERVICES[@]}"; do
  for round in $(seq 1 "$ROUNDS"); do
    ready_ms "$CANOPEE_IMAGE" "$s" $((B + 1))
    rn=$READY_MS sn=$STOP_MS
    # the previous image: its venv, its offices file copied to /app, run as nobody, no init
    ready_ms "$PREVIOUS_IMAGE" "$s" $((B + 2))
    printf '%-14s %-6s %10.1f / %-9.1f %10.1f / %-9.1f\n' "$s" "$round" \
      "$(awk -v x="$rn" 'BEGIN{print x/1000}')" "$(awk -v x="$READY_MS" 'BEGIN{print x/1000}')" \
      "$(awk -v x="$sn" 'BEGIN{print x/1000}')" "$(awk -v x="$STOP_MS" 'BEGIN{print x/1000}')"
  done
done
echo "(2 CPU cores shared with other work: absolute figures vary with the load; compare within a row)"
