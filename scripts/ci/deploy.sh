#!/usr/bin/env bash
# Apply deploy/overlays/<environment> with the given image and wait for the rollout.
# KUBE_CONFIG (the cluster's kubeconfig) comes from the GitHub Environment's secret.
set -euo pipefail
environment="${1:?usage: deploy.sh staging|production IMAGE}"
image="${2:?usage: deploy.sh staging|production IMAGE}"
overlay="deploy/overlays/${environment}"
[ -d "$overlay" ] || { echo "no overlay $overlay" >&2; exit 2; }
umask 077
export KUBECONFIG="${RUNNER_TEMP:-/tmp}/kubeconfig"
printf '%s' "${KUBE_CONFIG:?KUBE_CONFIG is not set for the ${environment} environment}" > "$KUBECONFIG"
namespace="commute-weather-${environment}"
kubectl apply -k "$overlay"
kubectl -n "$namespace" set image deployment/commute-comfort "service=${image}"
kubectl -n "$namespace" rollout status deployment/commute-comfort --timeout=300s
