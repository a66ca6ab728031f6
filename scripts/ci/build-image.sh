#!/usr/bin/env bash
# Containerize the bento packaged for this commit (run after `make package`, which versions it with the
# SHA): the one way the image is built, by `make container` and by the CI workflow.
#
#   build-image.sh [IMAGE]   IMAGE defaults to commute_comfort:<git sha>
#   build-image.sh --env     the variables podman/skopeo need to see the image built here (for `eval`)
#
# Labels: org.opencontainers.image.{source,revision,created,title,description} and the packaged model's
# sha256 (commute-weather.model.sha256). The source is the GitHub repository in CI; elsewhere the `origin`
# remote (credentials stripped), or the checkout itself as file://host/path when there is none.
#
# With a Docker engine (GitHub's runners) it builds with Docker, pulling the real base image. Without one
# (a rootless Linux box, a CI machine without a daemon) it builds with buildah into a container storage
# kept in CONTAINER_CACHE (default ~/.cache/commute-weather/containers), which is also the cache of the base
# image: when no registry answers, the base image the generated Dockerfile names (python:3.11-slim) is
# built from the Debian archive with debootstrap, once, and reused by every later build.
set -euo pipefail
cache="${CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/commute-weather/containers}"
bentoml="bentoml"
[ -x .venv/bin/bentoml ] && bentoml=".venv/bin/bentoml"

# podman, buildah and skopeo all read these: one storage, runc as the runtime (crun 1.8 refuses hybrid
# cgroup hosts), and open-file/process limits a server needs (the defaults inherited here can be tiny),
# at most this machine's hard limits (podman cannot raise those).
container_env() {
  mkdir -p "$cache"
  local driver="${CONTAINER_STORAGE_DRIVER:-overlay}"
  cat > "$cache/storage.conf.tmp" <<CONF
[storage]
driver = "$driver"
graphroot = "$cache/storage"
runroot = "$cache/run"
CONF
  mv "$cache/storage.conf.tmp" "$cache/storage.conf"
  local nofile nproc
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
  nproc="$(ulimit -Hu)"; [ "$nproc" = unlimited ] || [ "$nproc" -gt 8192 ] && nproc=8192
  cat > "$cache/containers.conf.tmp" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
CONF
  mv "$cache/containers.conf.tmp" "$cache/containers.conf"
  export CONTAINERS_STORAGE_CONF="$cache/storage.conf" CONTAINERS_CONF="$cache/containers.conf"
  export BUILDAH_ISOLATION=chroot
}

if [ "${1:-}" = "--env" ]; then
  container_env
  printf 'export CONTAINERS_STORAGE_CONF=%q CONTAINERS_CONF=%q BUILDAH_ISOLATION=chroot\n' \
    "$CONTAINERS_STORAGE_CONF" "$CONTAINERS_CONF"
  exit 0
fi

revision="$(git rev-parse HEAD)"  # of the checkout this runs in
image="${1:-commute_comfort:${revision}}"
bento="commute_comfort:${revision}"
if ! "$bentoml" get "$bento" >/dev/null 2>&1; then
  echo "no bento $bento in the BentoML store (${BENTOML_HOME:-~/bentoml}): run \`make package\` first" >&2
  exit 1
fi

source_url() {
  if [ -n "${GITHUB_REPOSITORY:-}" ]; then
    echo "${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}"
    return
  fi
  local origin
  if ! origin="$(git remote get-url origin 2>/dev/null)"; then
    echo "file://$(hostname)$(git rev-parse --show-toplevel)"
    return
  fi
  local scheme rest
  case "$origin" in
    *://*)
      scheme="${origin%%://*}"
      rest="${origin#*://}"
      case "${rest%%/*}" in *@*) rest="${rest#*@}" ;; esac  # never a token from https://user:token@host/
      origin="${scheme}://${rest}"
      ;;
    *@*:*) rest="${origin#*@}"; origin="https://${rest/:/\/}" ;;  # git@host:owner/name
    *) origin="file://$(hostname)$(cd "$origin" 2>/dev/null && pwd || echo "$origin")" ;;  # a local clone
  esac
  echo "${origin%.git}"
}

# The model's sha256 as packaging recorded it (the service checks the file against it at start).
model_sha256="$("$bentoml" models get "$bento" -o json | python3 -c \
  'import json, sys; print(json.load(sys.stdin)["metadata"]["model_sha256"])')"
labels=(
  "org.opencontainers.image.source=$(source_url)"
  "org.opencontainers.image.revision=${revision}"
  "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  "org.opencontainers.image.title=commute-comfort"
  "org.opencontainers.image.description=Commute comfort forecast service (commute-weather)"
  "commute-weather.model.sha256=${model_sha256}"
)
opts=()
for label in "${labels[@]}"; do opts+=(--opt "label=${label}"); done

if docker info >/dev/null 2>&1; then
  set -x
  "$bentoml" containerize "$bento" --backend docker --image-tag "$image" "${opts[@]}"
  exit 0
fi

for tool in buildah podman skopeo; do
  command -v "$tool" >/dev/null || {
    echo "no Docker engine and no $tool: install Docker, or (Debian) apt-get install buildah podman runc uidmap skopeo debootstrap" >&2
    exit 1
  }
done
container_env
bento_dir="${BENTOML_HOME:-$HOME/bentoml}/bentos/commute_comfort/${revision}"
base="$(awk '/^FROM /{print $2; exit}' "$bento_dir/env/docker/Dockerfile")"
case "$base" in */*/*) ;; */*) base="docker.io/$base" ;; *) base="docker.io/library/$base" ;; esac

# A stand-in for the registry's base image: Debian bookworm (whose python3 is 3.11) from the archive, with
# what the image's Dockerfile runs before its own apt-get: bash, pip (it installs uv with pip). It trusts
# this machine's certificate authorities, since the build installs packages from PyPI through its network.
# Bump when stand_in_base changes: a cached stand-in of another recipe is rebuilt.
stand_in_recipe="debootstrap-bookworm-2"
stand_in_base() {
  command -v debootstrap >/dev/null || {
    echo "no registry reachable for $base and no debootstrap to build it (apt-get install debootstrap)" >&2
    exit 1
  }
  local rootfs
  rootfs="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  echo "no registry reachable: building $base from the Debian archive (debootstrap bookworm), cached in $cache"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1 || {
    tail -20 "$cache/debootstrap.log" >&2
    exit 1
  }
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # python:3.11-slim's Python is not "externally managed"; the Dockerfile's `pip install uv` relies on that
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  # and, like Debian's official images, it deletes downloaded packages after each install
  cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  ln -sf pip3 "$rootfs/usr/bin/pip"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  # --numeric-owner: the owners inside the root filesystem, not this machine's names for them
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL commute-weather.stand-in=${stand_in_recipe}" \
    --change 'CMD ["python3"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
}

cached_recipe="$(podman image inspect --format '{{index .Config.Labels "commute-weather.stand-in"}}' "$base" 2>/dev/null || echo absent)"
if [ "$cached_recipe" != absent ] && [ "$cached_recipe" != "<no value>" ] && [ "$cached_recipe" != "$stand_in_recipe" ]; then
  echo "base image $base: a stand-in of an older recipe ($cached_recipe), rebuilding"
  stand_in_base
elif [ "$cached_recipe" != absent ]; then
  echo "base image $base: cached in $cache"
elif timeout 20 skopeo inspect --raw "docker://$base" >/dev/null 2>&1; then
  podman pull "$base"
else
  stand_in_base
fi
set -x
"$bentoml" containerize "$bento" --backend buildah --image-tag "$image" "${opts[@]}"
