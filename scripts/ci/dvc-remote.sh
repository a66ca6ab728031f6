#!/usr/bin/env bash
# dvc pull/push against the S3 remote when CI has its credentials; a no-op (with a notice) otherwise.
# Credentials come from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); the endpoint
# of a non-AWS store from DVC_S3_ENDPOINT_URL, written to the untracked .dvc/config.local.
set -euo pipefail
action="${1:?usage: dvc-remote.sh pull|push}"
dvc=".venv/bin/dvc"
[ -x "$dvc" ] || dvc="dvc"  # outside a `make install`ed checkout, the one on PATH
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
  echo "::notice::no DVC remote credentials: the pipeline runs from the embedded sample"
  exit 0
fi
if [ -n "${DVC_S3_ENDPOINT_URL:-}" ]; then
  "$dvc" remote modify --local storage endpointurl "$DVC_S3_ENDPOINT_URL"
fi
case "$action" in
  pull) "$dvc" pull --run-cache --allow-missing ;;
  push) "$dvc" push --run-cache ;;
  *) echo "unknown action: $action" >&2; exit 2 ;;
esac
