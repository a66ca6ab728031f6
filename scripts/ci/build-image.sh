#!/usr/bin/env bash
# Containerize the bento packaged for this commit as IMAGE, with the OCI labels that link the package on
# ghcr.io to its repository (which is also what lets it inherit the repository's access settings), the
# commit it was built from and when.
# usage: build-image.sh REGISTRY/NAME:TAG   (run after `make package`, which versions the bento with the SHA)
set -euo pipefail
image="${1:?usage: build-image.sh REGISTRY/NAME:TAG}"
revision="$(git rev-parse HEAD)"
source_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:?GITHUB_REPOSITORY (owner/name) is not set}"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
bentoml="bentoml"
[ -x .venv/bin/bentoml ] && bentoml=".venv/bin/bentoml"
"$bentoml" containerize "commute_comfort:${revision}" --image-tag "$image" \
  --opt "label=org.opencontainers.image.source=${source_url}" \
  --opt "label=org.opencontainers.image.revision=${revision}" \
  --opt "label=org.opencontainers.image.created=${created}" \
  --opt "label=org.opencontainers.image.title=commute-comfort" \
  --opt "label=org.opencontainers.image.description=Commute comfort forecast service (commute-weather)"
