# Sourced by deploy/images/*.sh: image names and podman's settings for this kind of machine.
# shellcheck shell=bash
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
say() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

BASE_IMAGE=localhost/canopee-base:bookworm
JRE_BASE_IMAGE=localhost/canopee-jre-base:bookworm
CANOPEE_IMAGE=localhost/canopee-esprit-client:local
KAFKA_IMAGE=localhost/canopee-kafka:local
FERRETDB_IMAGE=localhost/canopee-ferretdb:local
MAILCATCHER_IMAGE=localhost/canopee-mailcatcher:local
PREVIOUS_IMAGE=localhost/canopee-esprit-client:single-stage

# Docker image format: the OCI format has no HEALTHCHECK (buildah would drop it)
export BUILDAH_FORMAT=docker

# Podman on a machine without systemd and with hybrid (v1 + v2) cgroups: runc (crun refuses them),
# cgroupfs, events to a file, and explicit ulimits (the defaults podman would take from the host
# may exceed what the container's init may set). An own CONTAINERS_CONF is left as it is.
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  mkdir -p "$ROOT/.local/images"
  export CONTAINERS_CONF="$ROOT/.local/images/containers.conf"
  cat >"$CONTAINERS_CONF" <<'CONF'
# written by deploy/images/env.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi
