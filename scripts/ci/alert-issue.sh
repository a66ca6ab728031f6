#!/usr/bin/env bash
# Open, or update with a comment, the ONE open issue that says the served model needs attention (label
# model-monitor), with the monitor's markdown report as its body. GH_TOKEN needs issues: write.
# usage: alert-issue.sh REPORT.md
set -euo pipefail
report="${1:?usage: alert-issue.sh REPORT.md}"
label="model-monitor"
title="The served model needs attention (monitor alert)"
gh label create "$label" --description "alerts of the scheduled monitor workflow" --color B60205 --force > /dev/null
open="$(gh issue list --label "$label" --state open --json number --jq '.[0].number')"
if [ -n "$open" ]; then
  gh issue comment "$open" --body-file "$report" > /dev/null
  echo "updated issue #${open}"
else
  gh issue create --title "$title" --label "$label" --body-file "$report"
fi
