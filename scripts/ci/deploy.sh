#!/usr/bin/env bash
# Deploy IMAGE to deploy/overlays/<environment>: render the overlay with that image, apply it once, wait
# for the rollout, then send the README's example to POST /predict through a port-forward. When the apply,
# the rollout or the smoke request fails, the Deployment goes back to the revision that ran before and the
# script exits 1; the job fails.
# KUBE_CONFIG (the cluster's kubeconfig) comes from the GitHub Environment's secret.
# usage: deploy.sh staging|production REGISTRY/NAME:TAG
set -euo pipefail
usage="usage: deploy.sh staging|production REGISTRY/NAME:TAG"
environment="${1:?$usage}"
image="${2:?$usage}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
namespace="commute-weather-${environment}"
deployment="deployment/commute-comfort"
rollout_timeout="${ROLLOUT_TIMEOUT:-300s}"
smoke_port="${SMOKE_PORT:-18080}"
request="$root/examples/predict_request.json"

umask 077
work="$(mktemp -d)"
port_forward=""
cleanup() {
  if [ -n "$port_forward" ]; then kill "$port_forward" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export KUBECONFIG="$work/kubeconfig"
printf '%s' "${KUBE_CONFIG:?KUBE_CONFIG is not set for the ${environment} environment}" > "$KUBECONFIG"

"$here/render-manifests.sh" "$environment" "$image" > "$work/manifests.yaml"

revision() {
  kubectl -n "$namespace" get "$deployment" --ignore-not-found \
    -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}'
}

roll_back() {
  echo "::error title=Deploy to ${environment} failed::$1; rolling back"
  local now
  now="$(revision || true)"
  if [ -z "$previous" ]; then
    echo "::error::no earlier revision of $deployment in $namespace (first deploy): nothing to roll back to"
  elif [ "$now" = "$previous" ]; then
    echo "no new revision was created (revision $previous still current): nothing to undo"
  else
    kubectl -n "$namespace" rollout undo "$deployment" --to-revision="$previous"
    if kubectl -n "$namespace" rollout status "$deployment" --timeout="$rollout_timeout"; then
      echo "::warning::${environment} runs revision $previous again (the image that ran before ${image})"
    else
      echo "::error::the rollback to revision $previous did not complete either: look at the cluster"
    fi
  fi
  exit 1
}

smoke_request() {
  kubectl -n "$namespace" port-forward service/commute-comfort "${smoke_port}:80" > "$work/port-forward.log" 2>&1 &
  port_forward=$!
  local _
  for _ in $(seq 1 30); do
    grep -q "Forwarding from" "$work/port-forward.log" && break
    kill -0 "$port_forward" 2>/dev/null || break
    sleep 1
  done
  if ! curl --silent --show-error --fail-with-body --max-time 30 \
      --retry 5 --retry-delay 2 --retry-connrefused \
      -H 'content-type: application/json' --data "@$request" \
      "http://127.0.0.1:${smoke_port}/predict" > "$work/response.json"; then
    cat "$work/port-forward.log" "$work/response.json" >&2 || true
    return 1
  fi
  # A forecast, not merely a 200: a score in 0-100 and the version of the model that answered.
  python3 - "$work/response.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
assert 0 <= body["score"] <= 100 and body["model_version"], body
print(f"smoke request: score {body['score']:.1f} ({body.get('label')}), model {body['model_version']}")
PY
}

previous="$(revision || true)"
echo "${environment}: revision ${previous:-none} runs now; deploying ${image}"
kubectl apply -f "$work/manifests.yaml" || roll_back "kubectl apply failed"
kubectl -n "$namespace" rollout status "$deployment" --timeout="$rollout_timeout" \
  || roll_back "the rollout did not complete within $rollout_timeout"
smoke_request || roll_back "the smoke request POST /predict failed"
echo "${environment} runs ${image} (revision $(revision))"
