#!/usr/bin/env bash
# The model registry: GTO's Git tags for the artifact that dvc.yaml's `artifacts:` declares (commute-comfort).
# A version (commute-comfort@v0.0.3) is a commit whose served model differs from the previous version's; a
# stage (commute-comfort#staging#7, commute-comfort#prod#8) says which version runs where. `gto show` lists them.
#
#   registry.sh register COMMIT      register COMMIT as a new version when its served model (the md5 dvc.lock
#                                    records) differs from the latest version's; otherwise say which it is
#   registry.sh assign STAGE COMMIT  assign STAGE to the version holding COMMIT's model (registered first if
#                                    none does): what the deploy workflow runs after a smoke request passed
#   registry.sh reference            print the revision of the version in prod, the gate's reference; until
#                                    something was assigned prod, the old tag deployed/production; else nothing
#
# Tags are made by gto and pushed to `origin`. With GH_TOKEN set (CI: contents: write) the push authenticates
# with it as an HTTP header, the way actions/checkout does, so the token is never in a URL or a log.
# GTO (default: gto on PATH) and ARTIFACT (default: commute-comfort) may be overridden.
set -euo pipefail
usage="usage: registry.sh register COMMIT | assign staging|prod COMMIT | reference"
gto="${GTO:-gto}"
artifact="${ARTIFACT:-commute-comfort}"
legacy_tag="deployed/production"

# The md5 of the served model (dvc.yaml artifacts: models/<serve.dataset>/model.pkl) in dvc.lock at REV.
model_md5() {
  python3 - "$1" <<'PY'
import subprocess, sys
import yaml
rev = sys.argv[1]
show = lambda path: subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout
dataset = yaml.safe_load(show("params.yaml"))["serve"]["dataset"]
path = f"models/{dataset}/model.pkl"
for stage in (yaml.safe_load(show("dvc.lock")) or {}).get("stages", {}).values():
    for out in stage.get("outs") or []:
        if out["path"] == path:
            print(out["md5"])
            sys.exit(0)
sys.exit(f"dvc.lock at {rev} records no {path}: run dvc repro and commit dvc.lock")
PY
}

push_tag() {
  if [ -n "${GH_TOKEN:-}" ]; then
    local auth
    auth="$(printf 'x-access-token:%s' "$GH_TOKEN" | base64 -w0)"
    git -c "http.extraheader=AUTHORIZATION: basic ${auth}" push --quiet origin "refs/tags/$1"
  else
    git push --quiet origin "refs/tags/$1"
  fi
  echo "pushed $1"
}

latest_version() { "$gto" show "${artifact}@latest" --ref 2>/dev/null || true; }

# Prints the version tag holding COMMIT's model, registering COMMIT when no version does.
version_of() {
  local commit="$1" latest mine
  mine="$(model_md5 "$commit")"  # first, outside a condition: a lock without the model stops here
  latest="$(latest_version)"
  if [ -n "$latest" ] && [ "$(model_md5 "$latest")" = "$mine" ]; then
    echo "$commit holds the model of $latest: no new version" >&2
    echo "$latest"
    return
  fi
  "$gto" register "$artifact" "$commit" --message "served model of ${commit}" >&2
  latest="$(latest_version)"
  push_tag "$latest" >&2
  echo "$latest"
}

command="${1:?$usage}"
case "$command" in
  register)
    commit="$(git rev-parse --verify "${2:?$usage}^{commit}")"
    version_of "$commit" > /dev/null
    ;;
  assign)
    stage="${2:?$usage}"
    [[ "$stage" =~ ^(staging|prod)$ ]] || { echo "$usage" >&2; exit 2; }
    commit="$(git rev-parse --verify "${3:?$usage}^{commit}")"
    version="$(version_of "$commit")"
    "$gto" assign "$artifact" "$version" --stage "$stage" --message "${stage} runs ${version} (commit ${commit})"
    push_tag "$(git tag --list "${artifact}#${stage}#*" --sort=-v:refname | head -1)"
    ;;
  reference)
    prod="$("$gto" show "${artifact}#prod" --ref 2>/dev/null || true)"
    if [ -n "$prod" ]; then
      echo "$prod"
    elif git rev-parse --verify --quiet "${legacy_tag}^{commit}" > /dev/null; then
      echo "$legacy_tag"
    fi
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
