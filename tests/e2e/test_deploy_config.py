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
    assert [WORKFLOWS] == [[CI]]  # one workflow: deploying cannot race the tests of the same commit
    assert set(jobs["build"]["needs"]) == {"test", "pipeline"}
    assert jobs["build"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert jobs["staging"]["needs"] == "build" and jobs["staging"]["environment"] == "staging"
    assert set(jobs["production"]["needs"]) == {"build", "staging"}
    assert jobs["production"]["environment"] == "production"
    assert jobs["mark-deployed"]["needs"] == "production"
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
        "mark-deployed": ["contents"],
    }
    for name, job in workflow["jobs"].items():
        assert "secrets." not in str(job.get("env", {})), f"{name}: secrets only in the steps that use them"


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
