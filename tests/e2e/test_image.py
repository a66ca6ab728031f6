"""The container image, built by scripts/ci/build-image.sh (`make container`) and run as production runs it:
the Deployment's user, a read-only root filesystem with only the manifests' writable mounts, the port on
127.0.0.1. Its answers, labels, environment and contents, and deploy/base checked against it.

Docker when a Docker engine answers, else buildah/podman (the image built once per test session, its base
cached between runs by the script). Missing tools fail the test under CI=true and skip it elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from commute_weather.config import load_params
from commute_weather.forecast.predictor import Predictor
from commute_weather.paths import DatasetPaths
from commute_weather.serving.api_models import ForecastRequest
from commute_weather.serving.handlers import forecast
from tests.containers import Engine, NoEngineError, container_engine, deployment_container, running
from tests.e2e.conftest import REPO, package, run
from tests.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.xdist_group("container")]
COMPILERS = ("cc", "gcc", "g++", "c++", "cpp", "make", "as", "ld")
FORECAST_FIELDS = ("score", "label", "wet_probability", "score_low", "score_high", "persistence_score")


@dataclass(frozen=True)
class Built:
    repo: Path
    version: str
    image: str
    engine: Engine

    def inspect(self) -> dict[str, Any]:
        return self.engine.image(self.image)


@pytest.fixture(scope="module")
def built(_reproduced_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The small pipeline's model packaged and containerized by the one build script, as `make container`
    does; removed afterwards (the cached base image stays)."""
    try:
        engine = container_engine()
    except NoEngineError as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    repo, bento_env, version = package(_reproduced_small, tmp_path_factory.mktemp("image") / "repo")
    image = f"commute_comfort:{version}"
    run(repo, str(repo / "scripts/ci/build-image.sh"), env={**bento_env, **engine.env})
    try:
        yield Built(repo, version, image, engine)
    finally:
        engine.cli("rmi", "-f", image, check=False)


@pytest.fixture(scope="module")
def container(built: Built) -> Iterator[Running]:
    name = f"commute-comfort-test-{os.getpid()}"
    with running(built.engine, built.image, name, free_port()) as url:
        yield Running(url, name)


@dataclass(frozen=True)
class Running:
    url: str
    name: str


def readme_example() -> dict[str, Any]:
    """The request body of the README's /predict example."""
    readme = (REPO / "README.md").read_text()
    match = re.search(r"/predict -H 'content-type: application/json' \\\s+-d @(\S+)", readme)
    assert match, "README.md has no curl /predict example"
    loaded: dict[str, Any] = json.loads((REPO / match.group(1)).read_text())
    return loaded


def test_the_readme_example_answers_what_the_model_forecasts_in_process(
    built: Built, container: Running
) -> None:
    example = readme_example()
    answer = httpx.post(f"{container.url}/predict", json=example, timeout=60)
    assert answer.status_code == 200, answer.text
    served = answer.json()
    paths = DatasetPaths(load_params(built.repo / "params.yaml").serve.dataset)
    predictor = Predictor.from_artifacts(
        (built.repo / paths.model).read_bytes(), json.loads((built.repo / paths.metadata).read_text())
    )
    [expected] = forecast(predictor, [ForecastRequest.model_validate(example["request"])], built.version)
    expected_fields = expected.model_dump(mode="json")
    # Exactly: the image's wheels, the same model file, the same features and calibration.
    assert {k: served[k] for k in FORECAST_FIELDS} == {k: expected_fields[k] for k in FORECAST_FIELDS}
    assert served["model_version"] == built.version


def test_the_labels_carry_the_commit_the_source_and_the_model_digest(built: Built) -> None:
    labels = built.inspect()["Config"]["Labels"]
    paths = DatasetPaths(load_params(built.repo / "params.yaml").serve.dataset)
    assert labels["org.opencontainers.image.revision"] == built.version
    assert re.fullmatch(r"[0-9a-f]{40}", built.version)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"])
    # the test's repository has no remote: its source is the checkout itself, not a made-up URL
    assert labels["org.opencontainers.image.source"].endswith(str(built.repo))
    digest = hashlib.sha256((built.repo / paths.model).read_bytes()).hexdigest()
    assert labels["commute-weather.model.sha256"] == digest


def test_the_image_sets_the_environment_the_service_relies_on(built: Built) -> None:
    env = dict(item.split("=", 1) for item in built.inspect()["Config"]["Env"])
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["BENTOML_DO_NOT_TRACK"] == "true"


def test_no_compiler_is_left_in_the_image(built: Built) -> None:
    script = f"for t in {' '.join(COMPILERS)}; do command -v $t || true; done"
    found = built.engine.shell(built.image, script).split()
    assert found == []


def test_every_process_runs_as_the_non_root_user(built: Built, container: Running) -> None:
    pod, _ = deployment_container()
    script = "for s in /proc/[0-9]*/status; do awk '/^Uid:/{print $2}' $s; done"
    uids = built.engine.cli("exec", container.name, "/bin/sh", "-c", script).stdout.split()
    assert len(uids) >= 2  # the server and its worker (and the shell that looked)
    assert set(uids) == {str(pod["securityContext"]["runAsUser"])}


def test_deploy_base_matches_the_image(built: Built, container: Running) -> None:
    """The user id, port, probes and writable paths deploy/base declares are those of the built image."""
    pod, spec = deployment_container()
    config = built.inspect()["Config"]
    id_script = "id -u; id -g"
    ids = built.engine.shell(built.image, id_script).split()
    assert ids == [str(pod["securityContext"]["runAsUser"]), str(pod["securityContext"]["runAsGroup"])]
    assert str(pod["securityContext"]["fsGroup"]) == ids[1]
    port = spec["ports"][0]
    assert f"{port['containerPort']}/tcp" in config["ExposedPorts"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = spec[probe]["httpGet"]
        assert get["port"] == port["name"], probe
        assert httpx.get(f"{container.url}{get['path']}", timeout=10).status_code == 200, probe
    # Writable paths: with a writable root, what the running service writes (start, a forecast, metrics)
    # must all be inside the manifests' mounts.
    mounts = [m["mountPath"] for m in spec["volumeMounts"]]
    name = f"commute-comfort-diff-{os.getpid()}"
    with running(built.engine, built.image, name, free_port(), read_only=False) as url:
        assert httpx.post(f"{url}/predict", json=readme_example(), timeout=60).status_code == 200
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
        diff = built.engine.cli("diff", name).stdout.splitlines()
    changed = [line.split(maxsplit=1)[1] for line in diff if line.strip()]
    implied = {str(parent) for path in changed for parent in Path(path).parents}  # directories above
    # the engine's own: it binds /etc/hosts, /etc/hostname and /etc/resolv.conf, and creates mount points
    written = [p for p in changed if p not in implied and p != "/etc"]
    outside = [p for p in written if not any(p == m or p.startswith(f"{m}/") for m in mounts)]
    assert outside == [], f"the service writes outside deploy/base's writable mounts: {outside}"
