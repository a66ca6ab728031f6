#!/usr/bin/env bash
# Run after `make repro`: fails when the pipeline changed anything Git sees (dvc.lock, metrics, reports,
# plots, any other tracked file, or a new file that is not ignored) and lists what changed. Without it a
# pull request that edits params.yaml or code but does not commit what `dvc repro` then produces is green,
# and only main fails, where packaging refuses a dirty tree.
# usage: check-repro-clean.sh [REPOSITORY_DIR]
set -euo pipefail
cd "${1:-.}"
changes="$(git status --porcelain --untracked-files=all)"
if [ -z "$changes" ]; then
  echo "dvc repro left every committed file as it was"
  exit 0
fi
{
  echo "::error title=Pipeline outputs not committed::dvc repro changed committed files or created new ones"
  echo "The committed dvc.lock, metrics or plots are not what this commit's code and params produce."
  echo "Changed (git status --porcelain):"
  printf '%s\n' "$changes" | sed 's/^/  /'
  if ! git diff --quiet -- dvc.lock; then
    echo "dvc.lock: the stages whose recorded hashes differ:"
    git --no-pager diff --unified=0 -- dvc.lock | grep -E '^[-+] *(cmd|md5|hash|path):|^@@' | head -40 | sed 's/^/  /'
  fi
  echo "Fix: run \`make repro\` on this branch and commit the files listed above."
} >&2
exit 1
