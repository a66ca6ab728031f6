#!/usr/bin/env bash
# Print deploy/overlays/<environment> rendered with IMAGE (registry/name:tag) as the service's image, so
# that one `kubectl apply` creates one Deployment revision, with the image that is meant to run. (Applying
# the overlay and then `kubectl set image` made a first revision with the placeholder image, an image that
# cannot be pulled and that `kubectl rollout undo` would go back to.)
# usage: render-manifests.sh staging|production IMAGE
set -euo pipefail
usage="usage: render-manifests.sh staging|production REGISTRY/NAME:TAG"
environment="${1:?$usage}"
image="${2:?$usage}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
overlay="$root/deploy/overlays/$environment"
[ -d "$overlay" ] || { echo "no overlay deploy/overlays/$environment" >&2; exit 2; }
# name:tag with a tag after the last slash (a registry port like host:5000/x is not a tag)
if ! [[ "$image" =~ ^([a-z0-9][a-z0-9._/:-]*/[a-z0-9._-]+):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$ ]]; then
  echo "not an image reference of the form registry/name:tag: $image" >&2
  exit 2
fi
name="${BASH_REMATCH[1]}"
tag="${BASH_REMATCH[2]}"
# The image name the base kustomization gives the container (its tag is the placeholder).
base_name="ghcr.io/commute-weather/commute-comfort"
placeholder="replaced-by-ci-with-the-git-sha"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# kustomize takes a directory resource only by a relative path
relative_overlay="$(realpath --relative-to="$work" "$overlay")"
cat > "$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $relative_overlay
images:
  - name: $base_name
    newName: $name
    newTag: "$tag"
YAML
kubectl kustomize "$work" > "$work/rendered.yaml"
if grep -q -e "$placeholder" "$work/rendered.yaml"; then
  echo "the rendered manifests still name the placeholder image ($placeholder)" >&2
  exit 1
fi
if ! grep -q -F "image: $image" "$work/rendered.yaml"; then
  echo "the rendered manifests do not run $image" >&2
  exit 1
fi
cat "$work/rendered.yaml"
