#!/usr/bin/env bash
# Build the container images without any registry, with Debian's podman + buildah + mmdebstrap:
#
#   deploy/images/build.sh            (make images) every image below
#   deploy/images/build.sh canopee    only the base and the services' image
#   deploy/images/build.sh previous   also the former single-stage `pip install .` image (benchmark)
#
# 1. Two base images made from Debian 12 packages by mmdebstrap and `podman import`ed:
#      localhost/canopee-base:bookworm      Python 3.11, python3-venv, tini, CA certificates, tzdata, DejaVu fonts
#      localhost/canopee-jre-base:bookworm  OpenJDK 17 (headless), tini, CA certificates
#    mmdebstrap reads the Debian mirror this machine's apt uses (apt-get indextargets), and the
#    extra CAs this machine trusts (/usr/local/share/ca-certificates, e.g. a TLS-inspecting proxy's)
#    are added to the bases so that pip inside a build reaches the package index as on the host.
# 2. localhost/canopee-esprit-client:local   deploy/docker/Dockerfile (multi-stage) FROM the base
# 3. For `make compose-test` (docker-compose.yml + deploy/images/compose.local.yml), the
#    infrastructure from the same jars and binary as `make infra-up` (deploy/local/infra.sh):
#      localhost/canopee-kafka:local        Kafka's jars (.local/cache/kafka-libs) on the JRE base
#      localhost/canopee-ferretdb:local     the FerretDB runner (.local/bin/ferretdb), MongoDB wire
#      localhost/canopee-mailcatcher:local  `canopee mailcatcher` (SMTP to .eml files)
# Bases are rebuilt only when missing or when their package list changed (CANOPEE_IMAGES_REBASE=1
# rebuilds them anyway); the others always
# (podman's layer cache keeps that quick). podman, buildah, mmdebstrap and runc are installed with
# apt when missing. Podman's settings for this machine are written to .local/images/containers.conf
# (runc: crun refuses hybrid cgroups; cgroupfs, no systemd; explicit ulimits): every podman command
# of the project runs with CONTAINERS_CONF pointing at it (deploy/images/env.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/images/env.sh
source "$ROOT/deploy/images/env.sh"
WHAT="${1:-all}"
WORK="$ROOT/.local/images"
mkdir -p "$WORK"

t_start=$SECONDS
timed() { # timed LABEL CMD...: run, print how long it took
  local label="$1" t0=$SECONDS
  shift
  "$@"
  say "$label: $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- tools
need=()
command -v podman >/dev/null || need+=(podman)
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v runc >/dev/null || need+=(runc)
command -v newuidmap >/dev/null || need+=(uidmap)
[[ -x /usr/lib/podman/netavark || -x /usr/libexec/podman/netavark ]] || need+=(netavark aardvark-dns)
command -v iptables >/dev/null || need+=(iptables)
if ((${#need[@]})); then
  say "installing ${need[*]} from Debian's packages"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
say "$(podman --version), $(buildah --version | cut -d' ' -f1-3), mmdebstrap $(mmdebstrap --version | cut -d' ' -f2), $(runc --version | head -n1)"

# ---------------------------------------------------------------- bases
debian_sources() { # one-line sources of this machine's Debian 12 mirror(s), main component
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(ORIGIN)' 'Created-By: Packages' |
    awk '$4 == "Debian" && $2 ~ /^bookworm/ && $3 == "main" {print "deb " $1 " " $2 " main"}' | sort -u
}

build_base() { # build_base TAG PACKAGES
  local tag="$1" packages="$2"
  # kept while it holds the same packages (its label says which); CANOPEE_IMAGES_REBASE=1 rebuilds it anyway
  if [[ -z "${CANOPEE_IMAGES_REBASE:-}" ]] && podman image exists "$tag" &&
    [[ "$(podman image inspect --format '{{index .Labels "canopee.packages"}}' "$tag" 2>/dev/null)" == "$packages" ]]; then
    say "$tag present (CANOPEE_IMAGES_REBASE=1 rebuilds it)"
    return 0
  fi
  local sources=() cas=() hooks=()
  mapfile -t sources < <(debian_sources)
  ((${#sources[@]})) || die "no Debian 12 (bookworm) source in this machine's apt configuration"
  shopt -s nullglob
  cas=(/usr/local/share/ca-certificates/*.crt)
  shopt -u nullglob
  if ((${#cas[@]})); then
    hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"')
    local ca
    for ca in "${cas[@]}"; do hooks+=(--customize-hook="copy-in $ca /usr/local/share/ca-certificates/"); done
    hooks+=(--customize-hook='chroot "$1" update-ca-certificates >/dev/null')
    say "adding ${#cas[@]} CA certificate(s) this machine trusts locally to $tag"
  fi
  local tar="$WORK/base.tar"
  # (man1 exists although manuals are left out: the JRE's postinst registers alternatives there)
  say "building $tag from Debian packages ($packages)"
  mmdebstrap --quiet --variant=essential --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --setup-hook='mkdir -p "$1/usr/share/man/man1"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "${hooks[@]}" bookworm "$tar" "${sources[@]}" || die "mmdebstrap failed (command above)"
  podman import --quiet --change 'CMD ["/bin/bash"]' --change "LABEL canopee.packages=$packages" "$tar" "$tag" >/dev/null
  rm -f "$tar"
}

# ---------------------------------------------------------------- images
build_canopee() {
  podman build --quiet --build-arg BASE="$BASE_IMAGE" -f deploy/docker/Dockerfile -t "$CANOPEE_IMAGE" "$ROOT" >/dev/null
}

context_dir() { # context_dir NAME: an empty build context under .local/images
  local dir="$WORK/context-$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

build_kafka() {
  local libs="$ROOT/.local/cache/kafka-libs" ctx
  compgen -G "$libs/kafka_2.13-*.jar" >/dev/null ||
    die "Kafka's jars are missing from .local/cache/kafka-libs (make infra-up fetches them)"
  ctx="$(context_dir kafka)"
  mkdir -p "$ctx/libs"
  cp "$libs"/*.jar "$ctx/libs/"
  cp "$ROOT/deploy/images/kafka/"* "$ctx/"
  podman build --quiet --build-arg BASE="$JRE_BASE_IMAGE" -t "$KAFKA_IMAGE" "$ctx" >/dev/null
}

build_ferretdb() {
  local bin="$ROOT/.local/bin/ferretdb" ctx
  [[ -x "$bin" ]] || die "the FerretDB runner .local/bin/ferretdb is missing (make infra-up builds it)"
  ctx="$(context_dir ferretdb)"
  cp "$bin" "$ctx/ferretdb"
  cp "$ROOT/deploy/images/ferretdb/"* "$ctx/"
  podman build --quiet --build-arg BASE="$BASE_IMAGE" -t "$FERRETDB_IMAGE" "$ctx" >/dev/null
}

build_mailcatcher() {
  local ctx
  ctx="$(context_dir mailcatcher)"
  grep -E '^(aiosmtpd|atpublic)==' "$ROOT/requirements-dev.txt" >"$ctx/requirements.txt"
  cp "$ROOT/deploy/images/mailcatcher/"* "$ctx/"
  podman build --quiet --build-arg BASE="$BASE_IMAGE" --build-arg CANOPEE="$CANOPEE_IMAGE" \
    -t "$MAILCATCHER_IMAGE" "$ctx" >/dev/null
}

build_previous() { # the single-stage image this project shipped before (benchmark baseline)
  podman build --quiet --build-arg BASE="$BASE_IMAGE" -f bench/images/Dockerfile.single-stage \
    -t "$PREVIOUS_IMAGE" "$ROOT" >/dev/null
}

timed "base $BASE_IMAGE" build_base "$BASE_IMAGE" python3,python3-venv,tini,ca-certificates,tzdata,fonts-dejavu-core
timed "image $CANOPEE_IMAGE" build_canopee
if [[ "$WHAT" == all || "$WHAT" == previous ]]; then
  bash "$ROOT/deploy/local/infra.sh" build # Kafka's jars and the FerretDB runner, when missing
  timed "base $JRE_BASE_IMAGE" build_base "$JRE_BASE_IMAGE" openjdk-17-jre-headless,tini,ca-certificates,tzdata
  timed "image $KAFKA_IMAGE" build_kafka
  timed "image $FERRETDB_IMAGE" build_ferretdb
  timed "image $MAILCATCHER_IMAGE" build_mailcatcher
fi
[[ "$WHAT" == previous ]] && timed "image $PREVIOUS_IMAGE" build_previous
# dangling layers of earlier builds; a build interrupted earlier may leave a buildah working
# container holding one (`podman ps --external`): the layer stays, the images built are fine
if ! podman image prune --force >/dev/null 2>&1; then
  say "some dangling layers are still held by a working container of an interrupted build (podman ps --external); kept"
fi
say "images built in $((SECONDS - t_start)) s:"
podman images --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F 'localhost/canopee' || true
