#!/bin/bash
# KAFKA_* variables -> server.properties (the apache/kafka image's convention: drop KAFKA_, lower
# case, '_' -> '.', '__' -> '_', '___' -> '-'), format the storage on the first start, run Kafka.
set -euo pipefail
props=/var/lib/kafka/server.properties
data="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
{
  echo "log.dirs=$data"
  while IFS='=' read -r name _; do
    case "$name" in
      KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_LOG_DIRS) continue ;;
      KAFKA_*) ;;
      *) continue ;;
    esac
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//___/-}"
    key="${key//__/@}"
    key="${key//_/.}"
    key="${key//@/_}"
    printf '%s=%s\n' "$key" "${!name}"
  done < <(env)
} >"$props"
java_opts=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.xml ${KAFKA_OPTS:-})
if [[ ! -f "$data/meta.properties" ]]; then
  cluster_id="${CLUSTER_ID:-$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | sed 's/^-/A/')}"
  java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
    --cluster-id="$cluster_id" -c "$props" -g
fi
exec java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$props"
