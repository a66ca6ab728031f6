#!/usr/bin/env bash
# Point the tag TAG (e.g. deployed/production) at COMMIT through GitHub's API, creating it the first time.
# The deploy job runs this after production's rollout and smoke request passed, so the tag always names
# the commit whose committed metrics are those of the model production serves: `make package` compares the
# next model with them (REFERENCE_REV). GH_TOKEN needs contents: write; GITHUB_REPOSITORY is owner/name.
# usage: mark-deployed.sh TAG COMMIT
set -euo pipefail
tag="${1:?usage: mark-deployed.sh TAG COMMIT}"
commit="${2:?usage: mark-deployed.sh TAG COMMIT}"
repository="${GITHUB_REPOSITORY:?GITHUB_REPOSITORY (owner/name) is not set}"
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || { echo "not a full commit SHA: $commit" >&2; exit 2; }
if gh api "repos/${repository}/git/ref/tags/${tag}" --silent 2>/dev/null; then
  gh api --method PATCH "repos/${repository}/git/refs/tags/${tag}" -f sha="$commit" -F force=true --silent
  echo "moved ${tag} to ${commit}"
else
  gh api --method POST "repos/${repository}/git/refs" -f ref="refs/tags/${tag}" -f sha="$commit" --silent
  echo "created ${tag} at ${commit}"
fi
