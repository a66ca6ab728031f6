"""scripts/ci/*.sh offline: shellcheck, the stale-output check, the render with the real image, and the
deploy's rollback, driven by stand-ins for kubectl, bentoml and gh that record how they were called."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import BIN, REPO, run

SCRIPTS = REPO / "scripts/ci"
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = f"ghcr.io/acme/commute-comfort:{SHA}"
PLACEHOLDER = "replaced-by-ci-with-the-git-sha"


def test_scripts_pass_shellcheck() -> None:
    scripts = sorted(map(str, SCRIPTS.glob("*.sh")))
    assert len(scripts) >= 5
    run(REPO, "shellcheck", "--severity=style", *scripts, str(REPO / ".ci/run"))


# --- check-repro-clean.sh ---------------------------------------------------------------------------------


def git_repo(path: Path) -> Path:
    path.mkdir()
    run(path, "git", "init", "-q", "-b", "main")
    (path / "dvc.lock").write_text("schema: '2.0'\n")
    (path / "metrics").mkdir()
    (path / "metrics/metrics.json").write_text('{"rmse": 9.6}\n')
    (path / ".gitignore").write_text("/dvc_plots/\n")
    run(path, "git", "add", "-A")
    run(path, "git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    return path


def test_check_repro_clean_passes_an_unchanged_tree(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / "dvc_plots").mkdir()  # ignored output: fine
    (repo / "dvc_plots/index.html").write_text("<html/>")
    result = run(repo, str(SCRIPTS / "check-repro-clean.sh"))
    assert "unchanged" in result.stdout or "as it was" in result.stdout


def test_check_repro_clean_fails_listing_what_changed(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (repo / "metrics/metrics.json").write_text('{"rmse": 9.7}\n')
    (repo / "metrics/new.json").write_text("{}\n")
    result = run(repo, str(SCRIPTS / "check-repro-clean.sh"), check=False)
    assert result.returncode == 1
    for name in ("dvc.lock", "metrics/metrics.json", "metrics/new.json"):
        assert name in result.stderr, result.stderr
    assert "::error" in result.stderr
    assert "make repro" in result.stderr


# --- render-manifests.sh ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_render_runs_the_given_image_and_no_placeholder(overlay: str, tmp_path: Path) -> None:
    out = run(REPO, str(SCRIPTS / "render-manifests.sh"), overlay, IMAGE).stdout
    assert PLACEHOLDER not in out
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(out)
    run(REPO, "kubernetes-validate", "--strict", "--quiet", str(rendered))
    docs = {d["kind"]: d for d in yaml.safe_load_all(out) if d}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == [IMAGE]
    assert pod["imagePullSecrets"] == [{"name": "commute-comfort-ghcr"}]
    assert docs["Deployment"]["metadata"]["namespace"] == f"commute-weather-{overlay}"


@pytest.mark.parametrize("image", ["commute-comfort", "ghcr.io/acme/commute-comfort", "ghcr.io/a b:x"])
def test_render_refuses_an_image_without_a_tag(image: str) -> None:
    result = run(REPO, str(SCRIPTS / "render-manifests.sh"), "staging", image, check=False)
    assert result.returncode == 2
    assert "registry/name:tag" in result.stderr


# --- deploy.sh with a recording kubectl -------------------------------------------------------------------

FAKE_KUBECTL = r'''#!PYTHON
"""kubectl stand-in: records each call, renders with the real kubectl, plays a cluster from FAKE_* vars."""
import http.server, json, os, subprocess, sys
state = os.environ["FAKE_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\n")
if args[0] == "kustomize":
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
namespaces = ("commute-weather-staging", "commute-weather-production")
verb = next(a for a in args if not a.startswith("-") and a not in namespaces)
applied = os.path.exists(os.path.join(state, "applied"))
undone = os.path.exists(os.path.join(state, "undone"))
if verb == "get":
    print(os.environ["FAKE_REVISION_AFTER" if applied else "FAKE_REVISION_BEFORE"], end="")
elif verb == "apply":
    open(os.path.join(state, "applied"), "w").close()
    sys.exit(int(os.environ.get("FAKE_APPLY_RC", "0")))
elif verb == "rollout" and "undo" in args:
    open(os.path.join(state, "undone"), "w").close()
elif verb == "rollout" and "status" in args:
    sys.exit(0 if undone else int(os.environ.get("FAKE_ROLLOUT_RC", "0")))
elif verb == "port-forward":
    port = int(args[-1].split(":")[0])
    status = int(os.environ.get("FAKE_SMOKE_STATUS", "200"))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            assert body["request"]["station_id"]
            reply = json.dumps({"score": 71.5, "label": "good", "model_version": "abc"} if status == 200
                               else {"error": "boom"}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        def log_message(self, *a):
            pass
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    print(f"Forwarding from 127.0.0.1:{port} -> 3000", flush=True)
    server.serve_forever()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def executable(path: Path, text: str) -> None:
    path.write_text(text.replace("#!PYTHON", f"#!{sys.executable}"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def deploy(tmp_path: Path, **fake: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    fakes, state = tmp_path / "bin", tmp_path / "state"
    fakes.mkdir()
    state.mkdir()
    executable(fakes / "kubectl", FAKE_KUBECTL)
    real = shutil.which("kubectl", path=str(BIN))
    assert real
    env = {
        "PATH": os.pathsep.join([str(fakes), str(BIN), os.environ["PATH"]]),
        "REAL_KUBECTL": real,
        "FAKE_STATE": str(state),
        "FAKE_REVISION_BEFORE": "3",
        "FAKE_REVISION_AFTER": "4",
        "KUBE_CONFIG": "apiVersion: v1\nkind: Config\n",
        "SMOKE_PORT": str(free_port()),
        "ROLLOUT_TIMEOUT": "5s",
        **fake,
    }
    result = subprocess.run(
        [str(SCRIPTS / "deploy.sh"), "staging", IMAGE],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    return result, calls


def applied_manifests(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if "apply" in c]


def undo_calls(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if "rollout" in c and "undo" in c]


def test_deploy_applies_once_with_the_real_image_and_sends_a_smoke_request(tmp_path: Path) -> None:
    result, calls = deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(applied_manifests(calls)) == 1
    assert not any("set" in c and "image" in c for c in calls)  # no second, placeholder-free revision
    assert any("port-forward" in c for c in calls)
    assert not undo_calls(calls)
    assert "smoke request: score 71.5" in result.stdout


def test_a_failed_rollout_goes_back_to_the_previous_revision(tmp_path: Path) -> None:
    result, calls = deploy(tmp_path, FAKE_ROLLOUT_RC="1")
    assert result.returncode == 1
    assert undo_calls(calls) == [
        ["-n", "commute-weather-staging", "rollout", "undo", "deployment/commute-comfort", "--to-revision=3"]
    ]
    assert not any("port-forward" in c for c in calls)  # no smoke request against a failed rollout
    assert "rollout did not complete" in result.stdout


def test_a_failed_smoke_request_rolls_back_too(tmp_path: Path) -> None:
    result, calls = deploy(tmp_path, FAKE_SMOKE_STATUS="500")
    assert result.returncode == 1
    assert len(undo_calls(calls)) == 1
    assert "smoke request POST /predict failed" in result.stdout


def test_a_first_deploy_that_fails_has_nothing_to_roll_back_to(tmp_path: Path) -> None:
    result, calls = deploy(tmp_path, FAKE_ROLLOUT_RC="1", FAKE_REVISION_BEFORE="", FAKE_REVISION_AFTER="1")
    assert result.returncode == 1
    assert not undo_calls(calls)
    assert "nothing to roll back to" in result.stdout


def test_a_redeploy_of_the_running_image_that_fails_undoes_nothing(tmp_path: Path) -> None:
    result, calls = deploy(tmp_path, FAKE_SMOKE_STATUS="500", FAKE_REVISION_AFTER="3")
    assert result.returncode == 1
    assert not undo_calls(calls)


def test_deploy_requires_the_kubeconfig(tmp_path: Path) -> None:
    result = run(REPO, str(SCRIPTS / "deploy.sh"), "staging", IMAGE, check=False, env={"KUBE_CONFIG": ""})
    assert result.returncode != 0
    assert "KUBE_CONFIG is not set" in result.stderr


# --- build-image.sh and mark-deployed.sh ------------------------------------------------------------------

RECORDER = """#!PYTHON
import json, os, sys
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_RC_" + sys.argv[1].upper(), "0")) if sys.argv[1:2] == ["api"] and
         "--method" not in sys.argv else 0)
"""


def recorded(tmp_path: Path, tool: str, cwd: Path, *args: str, **env: str) -> list[list[str]]:
    fakes = tmp_path / "bin"
    fakes.mkdir(parents=True, exist_ok=True)
    executable(fakes / tool, RECORDER)
    calls = tmp_path / "calls.jsonl"
    environment: dict[str, Any] = {
        **os.environ,
        "PATH": os.pathsep.join([str(fakes), os.environ["PATH"]]),
        "FAKE_CALLS": str(calls),
        **env,
    }
    subprocess.run(args, cwd=cwd, env=environment, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in calls.read_text().splitlines()]


FAKE_BENTOML = """#!PYTHON
import json, os, sys
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps(["bentoml", *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["models", "get"]:
    print(json.dumps({"metadata": {"model_sha256": "ab" * 32}}))
"""
FAKE_DOCKER = """#!PYTHON
import json, os, sys
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps(["docker", *sys.argv[1:]]) + "\\n")
"""


def build_image_labels(
    tmp_path: Path, repo: Path, *args: str, **env: str
) -> tuple[list[str], dict[str, str]]:
    """build-image.sh with a Docker engine (a stand-in) and a bentoml stand-in, outside GitHub Actions
    unless `env` says otherwise: the containerize call and the labels it passes."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    executable(fakes / "bentoml", FAKE_BENTOML)
    executable(fakes / "docker", FAKE_DOCKER)
    calls = tmp_path / "calls.jsonl"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    path = os.pathsep.join([str(fakes), os.environ["PATH"]])
    environment |= {"PATH": path, "FAKE_CALLS": str(calls), **env}
    script = str(SCRIPTS / "build-image.sh")
    subprocess.run([script, *args], cwd=repo, env=environment, check=True, capture_output=True, text=True)
    [call] = [c[1:] for c in map(json.loads, calls.read_text().splitlines()) if c[1:2] == ["containerize"]]
    labels = dict(v.removeprefix("label=").split("=", 1) for k, v in itertools.pairwise(call) if k == "--opt")
    return call, labels


def test_the_image_carries_oci_labels_linking_it_to_the_repository(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    github = {"GITHUB_REPOSITORY": "acme/commute-weather", "GITHUB_SERVER_URL": "https://github.com"}
    call, labels = build_image_labels(tmp_path, repo, IMAGE, **github)
    assert call[:4] == ["containerize", f"commute_comfort:{head}", "--backend", "docker"]
    assert call[4:6] == ["--image-tag", IMAGE]
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/commute-weather"
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["commute-weather.model.sha256"] == "ab" * 32


@pytest.mark.parametrize(
    ("origin", "source"),
    [
        (
            "https://someone:ghp_secret@github.com/acme/commute-weather.git",
            "https://github.com/acme/commute-weather",
        ),
        ("git@github.com:acme/commute-weather.git", "https://github.com/acme/commute-weather"),
        (None, "file://{host}{repo}"),
    ],
)
def test_a_local_build_names_its_real_source_without_credentials(
    tmp_path: Path, origin: str | None, source: str
) -> None:
    """Outside CI the source is the origin remote (never a token in it), or the checkout itself; the
    image is named after the commit."""
    repo = git_repo(tmp_path / "repo")
    if origin:
        run(repo, "git", "remote", "add", "origin", origin)
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    call, labels = build_image_labels(tmp_path, repo)
    assert call[4:6] == ["--image-tag", f"commute_comfort:{head}"]
    expected = source.format(host=socket.gethostname(), repo=repo.resolve())
    assert labels["org.opencontainers.image.source"] == expected
    assert "secret" not in json.dumps(call)


def test_mark_deployed_creates_the_tag_then_moves_it(tmp_path: Path) -> None:
    script = str(SCRIPTS / "mark-deployed.sh")
    env = {"GITHUB_REPOSITORY": "acme/commute-weather"}
    first = recorded(tmp_path / "a", "gh", REPO, script, "deployed/production", SHA, FAKE_RC_API="1", **env)
    assert first[-1][:4] == ["api", "--method", "POST", "repos/acme/commute-weather/git/refs"]
    assert "ref=refs/tags/deployed/production" in first[-1]
    later = recorded(tmp_path / "b", "gh", REPO, script, "deployed/production", SHA, **env)
    assert later[-1][:4] == [
        "api",
        "--method",
        "PATCH",
        "repos/acme/commute-weather/git/refs/tags/deployed/production",
    ]
    assert f"sha={SHA}" in later[-1] and "force=true" in later[-1]
