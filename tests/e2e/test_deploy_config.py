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


def test_workflows_pass_the_security_audit() -> None:
    # --offline: audits that need GitHub's API (known-vulnerable actions, impostor commits) cannot run here.
    result = run(REPO, "zizmor", "--offline", ".github/workflows", check=False)
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


def test_production_waits_for_staging_and_its_environment() -> None:
    jobs = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text())["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"
    assert "staging" in jobs["production"]["needs"]
    ci = (REPO / ".github/workflows/ci.yml").read_text()
    assert 'cml comment update --watermark-title="commute-weather model report"' in ci


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
