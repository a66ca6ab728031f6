#!/usr/bin/env bash
# Run the monitor (default: `make monitor LIVE=1`; or the command given as arguments) and hand its verdict to
# the workflow: the markdown report onto the job summary, `alert=true|false` and `worse=true|false` (detectably
# worse than persistence: the retraining job runs) into $GITHUB_OUTPUT. The monitor exits 3 for an alert;
# that is a verdict, not a failure, so this script exits 0 for it and fails only when monitoring failed.
# usage: monitor.sh [COMMAND ...]     (reads reports/monitor/report.{md,json}, which the command writes)
set -uo pipefail
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
output="${GITHUB_OUTPUT:-/dev/null}"
if [ "$#" -eq 0 ]; then set -- make monitor LIVE=1; fi
"$@"
status=$?
case "$status" in
  0) alert=false ;;
  3) alert=true ;;
  *) echo "::error title=Monitor failed::the monitor exited ${status}: no verdict"; exit "$status" ;;
esac
cat reports/monitor/report.md >> "$summary"
worse="$(python3 -c 'import json,sys; print(str(json.load(open(sys.argv[1]))["rmse_vs_persistence"]["verdict"] == "worsens").lower())' reports/monitor/report.json)" || exit 1
echo "alert=${alert}" >> "$output"
echo "worse=${worse}" >> "$output"
if [ "$alert" = true ]; then
  echo "::warning title=Served model alert::$(python3 -c 'import json,sys; print("; ".join(json.load(open(sys.argv[1]))["alert_reasons"]))' reports/monitor/report.json)"
fi
echo "monitor: alert=${alert} worse=${worse}"
