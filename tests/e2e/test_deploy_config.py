"""CI/CD configuration checked offline: workflow schema, security audit, rendered Kubernetes manifests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import REPO, run

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
OVERLAYS = ("staging", "production")


def test_workflows_match_the_github_workflow_schema() -> None:
    result = run(
        REPO, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)
    )
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_workflows_pass_the_security_audit(persona: str) -> None:
    # --offline: audits that need GitHub's API (known-vulnerable actions, impostor commits) cannot run here.
    # The auditor persona's exceptions are in .github/zizmor.yml, each with its reason.
    result = run(REPO, "zizmor", "--offline", f"--persona={persona}", ".github/workflows", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_every_action_is_pinned_to_a_commit() -> None:
    for workflow in WORKFLOWS:
        for ref in re.findall(r"uses:\s*(\S+)", workflow.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (workflow.name, ref)


def test_workflows_call_make_targets_that_exist() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))
    called = {t for w in WORKFLOWS for t in re.findall(r"\bmake ([a-z][\w-]*)", w.read_text())}
    assert called, "the workflows should run the Makefile's commands"
    assert called <= targets, called - targets
    for script in (REPO / "scripts/ci").glob("*.sh"):
        run(REPO, "bash", "-n", str(script))


CI = REPO / ".github/workflows/ci.yml"


def ci_workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(CI.read_text())
    return loaded


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_deploy_runs_only_after_green_ci_on_main_and_production_after_staging() -> None:
    workflow = ci_workflow()
    jobs = workflow["jobs"]
    assert set(workflow[True]) == {"pull_request", "push"}  # `on:` (no workflow_dispatch from any branch)
    # one workflow deploys, so deploying cannot race the tests of the same commit; the others are scheduled
    # (retrain, monitor) and deploy nothing
    for other in set(WORKFLOWS) - {CI}:
        loaded = yaml.safe_load(other.read_text())
        assert set(loaded[True]) == {"schedule", "workflow_dispatch"}, other.name
        environments = {job.get("environment") for job in loaded["jobs"].values()}
        assert environments <= {None, "live-data"}, other.name  # never staging or production
    assert set(jobs["build"]["needs"]) == {"test", "pipeline"}
    assert jobs["build"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert jobs["staging"]["needs"] == "build" and jobs["staging"]["environment"] == "staging"
    assert set(jobs["production"]["needs"]) == {"build", "staging"}
    assert jobs["production"]["environment"] == "production"
    # the registry: a version after build, stage staging after staging's smoke request, prod after production
    assert jobs["register"]["needs"] == "build"
    assert set(jobs["assign-staging"]["needs"]) == {"register", "staging"}
    assert set(jobs["mark-deployed"]["needs"]) == {"production", "assign-staging"}
    assert 'make registry REGISTRY="register ${GITHUB_SHA}"' in steps_text(jobs["register"])
    assert 'make registry REGISTRY="assign staging ${GITHUB_SHA}"' in steps_text(jobs["assign-staging"])
    assert 'make registry REGISTRY="assign prod ${GITHUB_SHA}"' in steps_text(jobs["mark-deployed"])
    for name in ("staging", "production"):
        assert f"scripts/ci/deploy.sh {name}" in steps_text(jobs[name])
        assert jobs[name]["concurrency"]["cancel-in-progress"] is False
    # main's runs are never cancelled by a newer push (one may be rolling out)
    assert "github.run_id" in workflow["concurrency"]["group"]


def test_each_job_gets_only_the_permissions_it_needs() -> None:
    workflow = ci_workflow()
    assert workflow["permissions"] == {}
    writes = {
        name: sorted(k for k, v in job["permissions"].items() if v == "write")
        for name, job in workflow["jobs"].items()
    }
    assert writes == {
        "test": [],
        "pipeline": ["pull-requests"],
        "build": ["packages"],
        "staging": [],
        "production": [],
        "register": ["contents"],
        "assign-staging": ["contents"],
        "mark-deployed": ["contents"],
    }
    for name, job in workflow["jobs"].items():
        assert "secrets." not in str(job.get("env", {})), f"{name}: secrets only in the steps that use them"


SCHEDULED = {name: REPO / f".github/workflows/{name}.yml" for name in ("retrain", "monitor")}


def test_scheduled_workflows_give_secrets_only_to_the_steps_that_need_them() -> None:
    for name, path in SCHEDULED.items():
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}
        for job in workflow["jobs"].values():
            assert "secrets." not in str(job.get("env", {})), name
            for step in job["steps"]:
                secrets = set(re.findall(r"secrets\.(\w+)", str(step.get("env", {}))))
                command = str(step.get("run", ""))
                if "KMA_AUTH_KEY" in secrets:
                    assert "make retrain" in command or "monitor.sh" in command, (name, step)
                if "RETRAIN_TOKEN" in secrets:
                    assert "make retrain" in command, (name, step)
    retrain = yaml.safe_load(SCHEDULED["retrain"].read_text())["jobs"]["retrain"]
    assert retrain["permissions"] == {"contents": "read"}  # the pull request comes from RETRAIN_TOKEN
    monitor = yaml.safe_load(SCHEDULED["monitor"].read_text())["jobs"]["monitor"]
    steps = {str(s.get("run", "")): s for s in monitor["steps"]}
    assert (
        steps["scripts/ci/alert-issue.sh reports/monitor/report.md"]["if"]
        == "steps.monitor.outputs.alert == 'true'"
    )
    assert any("gh workflow run retrain.yml" in r and s["if"] == "steps.monitor.outputs.worse == 'true'"
               for r, s in steps.items())  # fmt: skip


def test_the_pipeline_catches_stale_outputs_and_forks_get_a_notice() -> None:
    jobs = ci_workflow()["jobs"]
    runs = [str(step.get("run", "")) for step in jobs["pipeline"]["steps"]]
    assert runs.index("make check-repro-clean") == runs.index("make repro") + 1
    build_runs = [str(step.get("run", "")) for step in jobs["build"]["steps"]]
    assert build_runs.index("make check-repro-clean") < build_runs.index("make package")
    assert "HEAD~1" not in "\n".join(build_runs)  # the gate's reference is production's model (Makefile)
    steps = {step.get("name", ""): step for step in jobs["pipeline"]["steps"]}
    [setup] = [s for s in steps.values() if str(s.get("uses", "")).startswith("iterative/setup-cml@")]
    assert setup["uses"] == "iterative/setup-cml@f12ea7685438c1fc438d50f77519b3860cf5fa98"
    assert setup["with"] == {"version": "0.20.6", "vega": False}
    assert not any("npm" in str(s.get("run", "")) for s in steps.values())
    [post] = [s for s in steps.values() if "cml comment update" in str(s.get("run", ""))]
    assert 'cml comment update --watermark-title="commute-weather model report"' in post["run"]
    assert "head.repo.full_name == github.repository" in post["if"]
    assert "dependabot[bot]" in post["if"]
    [notice] = [s for s in steps.values() if "::notice" in str(s.get("run", ""))]
    assert "head.repo.full_name != github.repository" in notice["if"]


def rendered(overlay: str, tmp_path: Path) -> list[dict[str, Any]]:
    out = run(REPO, "kubectl", "kustomize", f"deploy/overlays/{overlay}").stdout
    (tmp_path / f"{overlay}.yaml").write_text(out)
    run(REPO, "kubernetes-validate", "--strict", "--quiet", str(tmp_path / f"{overlay}.yaml"))
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_render_and_validate(overlay: str, tmp_path: Path) -> None:
    docs = {d["kind"]: d for d in rendered(overlay, tmp_path)}
    assert set(docs) == {"Namespace", "Service", "Deployment", "HorizontalPodAutoscaler"}
    namespace = f"commute-weather-{overlay}"
    assert all(d["metadata"].get("namespace", namespace) == namespace for d in docs.values())
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["name"] == "service"  # scripts/ci/deploy.sh sets the image of this container
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"]["cpu"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "replicas" not in docs["Deployment"]["spec"]  # the autoscaler owns the count
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 1
