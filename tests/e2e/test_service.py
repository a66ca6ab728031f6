"""The BentoML service served over HTTP: packaging gates, parity with evaluate, bad input, fuzzing."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.e2e.conftest import REPO, SMALL, commit, copy_repo, run
from tests.servers import bentoml_serve, fake_kma_api

pytestmark = pytest.mark.slow
SERVICE = "commute_weather.service:CommuteComfort"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """A small pipeline run in a clean copy, packaged into its own BentoML home."""
    repo = copy_repo(tmp_path_factory.mktemp("service"), SMALL)
    run(repo, "dvc", "repro")
    commit(repo, "pipeline outputs")
    env = {"BENTOML_HOME": str(repo.parent / "bentoml-home")}
    export = ["--frozen", "--no-default-groups", "--no-emit-project", "--no-hashes", "--quiet"]
    run(repo, "uv", "export", *export, "-o", "src/requirements-serve.txt")
    out = run(repo, "python", "-m", "commute_weather.packaging", env=env).stdout
    version = re.search(r"bento: commute_comfort:(\S+)", out)
    assert version, out
    return repo, env, version.group(1)


@pytest.fixture(scope="module")
def service(packaged: tuple[Path, dict[str, str], str]) -> Iterator[str]:
    repo, env, _ = packaged
    with bentoml_serve(SERVICE, repo, {**env, "KMA_AUTH_KEY": ""}) as url:
        yield url


def request_for(
    observations: pd.DataFrame,
    station: int,
    date: pd.Timestamp,
    window: str,
    issue: pd.Timestamp,
    hours: int = 25,
) -> dict[str, Any]:
    """What a client sends: the station's last `hours` observations up to issue time."""
    first = issue - pd.Timedelta(hours=hours - 1)
    rows = observations[
        (observations["station_id"] == station) & observations["observed_at"].between(first, issue)
    ]
    records = [
        {
            k: (v.isoformat() if isinstance(v, pd.Timestamp) else (None if pd.isna(v) else v))
            for k, v in r.items()
        }
        for r in rows.drop(columns=["station_id"]).to_dict(orient="records")
    ]
    return {"station_id": station, "date": date.date().isoformat(), "window": window, "observations": records}


def requests_for_test_rows(repo: Path, count: int, seed: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`count` random rows of the evaluate stage's test predictions, and the request a client sends for
    each."""
    observations = pd.read_parquet(repo / "data/interim/observations.parquet")
    rows = pd.read_parquet(repo / "data/predictions/test.parquet").sample(count, random_state=seed)
    requests = [
        request_for(observations, int(r.station_id), r.date, r.window, r.issue_at) for r in rows.itertuples()
    ]
    return rows, requests


def test_package_records_the_commit_and_runs_as_non_root(packaged: tuple[Path, dict[str, str], str]) -> None:
    repo, env, version = packaged
    assert version == run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    bento = json.loads(
        run(repo, "bentoml", "get", f"commute_comfort:{version}", "-o", "json", env=env).stdout
    )
    assert bento["models"][0]["tag"] == f"commute_comfort:{version}"
    dockerfile = Path(env["BENTOML_HOME"]) / "bentos" / "commute_comfort" / version / "env/docker/Dockerfile"
    users = re.findall(r"^USER (\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert users[-1] not in {"root", "0"}, users


def test_unapproved_model_and_dirty_tree_are_refused(
    packaged: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    repo, _, _ = packaged
    strict = tmp_path / "strict.yaml"
    strict.write_text((repo / "params.yaml").read_text().replace("rmse_max: 11.0", "rmse_max: 1.0"))
    other_home = {"BENTOML_HOME": str(tmp_path / "home")}
    refused = run(
        repo,
        "python",
        "-m",
        "commute_weather.packaging",
        "--params",
        str(strict),
        check=False,
        env=other_home,
    )
    assert refused.returncode == 1
    assert "refusing to package a model the gate did not approve (failed: rmse_max)" in refused.stderr
    assert not (tmp_path / "home" / "models").exists() or not any((tmp_path / "home" / "models").iterdir())
    (repo / "README.md").write_text("changed\n")
    try:
        dirty = run(repo, "python", "-m", "commute_weather.packaging", check=False, env=other_home)
        assert dirty.returncode == 1
        assert "uncommitted changes" in dirty.stderr
    finally:
        run(repo, "git", "checkout", "README.md")


def test_predictions_over_http_equal_the_evaluate_stage(
    packaged: tuple[Path, dict[str, str], str], service: str
) -> None:
    expected, requests = requests_for_test_rows(packaged[0], 200, seed=0)
    scores: list[float] = []
    with httpx.Client(base_url=service, timeout=60) as client:
        for start in range(0, len(requests), 50):
            response = client.post(
                "/predict_batch", json={"batch": {"requests": requests[start : start + 50]}}
            )
            assert response.status_code == 200, response.text
            scores += [f["score"] for f in response.json()]
        single = client.post("/predict", json={"request": requests[0]}).json()
    assert scores == expected["model"].tolist()  # exactly: the same features, the same model
    assert single["score"] == scores[0]
    assert single["observed_hours"] == single["history_hours"] == 25


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(
    packaged: tuple[Path, dict[str, str], str], service: str
) -> None:
    """64 clients at once, one request each: every answer is the one that request gets alone, a bad
    request among them fails alone, and the batch-size metric shows that calls were shared."""
    _, requests = requests_for_test_rows(packaged[0], 64, seed=1)
    requests[5] = {**requests[5], "observations": requests[5]["observations"][:2]}  # too few hours
    with httpx.Client(base_url=service, timeout=60) as client:
        alone = [client.post("/predict", json={"request": r}) for r in requests]

        def send(request: dict[str, Any]) -> httpx.Response:
            return client.post("/predict", json={"request": request})

        with ThreadPoolExecutor(max_workers=64) as pool:
            together = list(pool.map(send, requests))
        metrics = client.get("/metrics").text
    assert [r.status_code for r in together] == [r.status_code for r in alone]
    assert together[5].status_code == 400
    assert "need a temperature" in together[5].text
    assert [r.json() for i, r in enumerate(together) if i != 5] == [
        r.json() for i, r in enumerate(alone) if i != 5
    ]
    calls = float(
        re.search(r"^forecast_batch_size_count(?:\{[^}]*\})? (\S+)$", metrics, re.MULTILINE).group(1)
    )  # type: ignore[union-attr]
    forecasts = float(
        re.search(r"^forecast_batch_size_sum(?:\{[^}]*\})? (\S+)$", metrics, re.MULTILINE).group(1)
    )  # type: ignore[union-attr]
    assert forecasts / calls > 1, metrics  # at least some requests shared a model call


def test_readme_example_request_works(service: str) -> None:
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    response = httpx.post(f"{service}/predict", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert 0 <= response.json()["score"] <= 100


def bad(body: dict[str, Any], edit: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    edit(changed["request"])
    return changed


BAD_INPUTS = {
    "missing field": (lambda r: r.pop("station_id"), "station_id"),
    "extra field": (lambda r: r.update(extra=1), "extra"),
    "unknown window": (lambda r: r.update(window="noon"), "window"),
    "unknown station": (lambda r: r.update(station_id=1), "station_id"),
    "naive timestamp": (
        lambda r: r["observations"][0].update(observed_at="2024-06-14T04:00:00"),
        "observed_at",
    ),
    "UTC timestamp": (
        lambda r: r["observations"][0].update(observed_at="2024-06-13T19:00:00+00:00"),
        "observed_at",
    ),
    "not on the hour": (
        lambda r: r["observations"][0].update(observed_at="2024-06-14T04:30:00+09:00"),
        "observed_at",
    ),
    "out of physical range": (lambda r: r["observations"][3].update(humidity_pct=140.0), "humidity_pct"),
    "duplicate hour": (lambda r: r["observations"].__setitem__(3, r["observations"][2]), "duplicate hour"),
    "unsorted hours": (lambda r: r["observations"].reverse(), "out of order"),
    "after issue time": (lambda r: r.update(date="2024-06-14"), "after issue time"),
    "too few hours": (lambda r: r.update(observations=r["observations"][:3]), "need a temperature"),
    "too many observations": (lambda r: r.update(observations=r["observations"] * 7), "observations"),
    "unknown precipitation type": (
        lambda r: r["observations"][0].update(precipitation_type="hail"),
        "precipitation_type",
    ),
    "wrong type": (lambda r: r.update(station_id="Seoul"), "station_id"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_4xx_that_names_the_field(service: str, case: str) -> None:
    edit, field = BAD_INPUTS[case]
    body = bad(json.loads((REPO / "examples/predict_request.json").read_text()), edit)
    response = httpx.post(f"{service}/predict", json=body, timeout=30)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert field in response.text, response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_non_finite_numbers_are_rejected(service: str, literal: str) -> None:
    text = (
        (REPO / "examples/predict_request.json")
        .read_text()
        .replace('"temperature_c": 15.9', f'"temperature_c": {literal}', 1)
    )
    assert literal in text
    response = httpx.post(
        f"{service}/predict", content=text, headers={"content-type": "application/json"}, timeout=30
    )
    assert 400 <= response.status_code < 500, response.text
    assert "temperature_c" in response.text


def test_model_card_health_and_metrics(service: str, packaged: tuple[Path, dict[str, str], str]) -> None:
    _, _, version = packaged
    card = httpx.post(f"{service}/model", json={}, timeout=30).json()
    assert card["tag"] == f"commute_comfort:{version}"
    assert card["gate"]["approved"] is True
    assert {c["check"] for c in card["gate"]["checks"]} >= {"rmse_max", "min_skill", "min_train_rows"}
    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(f"{service}{path}", timeout=10).status_code == 200, path


def test_live_forecast_without_key_is_503_and_says_what_to_set(service: str) -> None:
    response = httpx.post(f"{service}/forecast", json={"station_id": 108}, timeout=30)
    assert response.status_code == 503
    assert "KMA_AUTH_KEY" in response.text


def test_built_bento_serves_by_tag(packaged: tuple[Path, dict[str, str], str]) -> None:
    repo, env, version = packaged
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    with bentoml_serve(f"commute_comfort:{version}", repo, env) as url:
        response = httpx.post(f"{url}/predict", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == version


@pytest.fixture(scope="module")
def live_service(packaged: tuple[Path, dict[str, str], str]) -> Iterator[str]:
    """The service with a KMA key, talking to a local stand-in for the KMA API."""
    repo, env, _ = packaged
    with (
        fake_kma_api() as kma,
        bentoml_serve(SERVICE, repo, {**env, "KMA_AUTH_KEY": "fake-key", "KMA_API_URL": kma}) as url,
    ):
        yield url


def test_live_forecast_fetches_and_forecasts_the_window_being_issued(live_service: str) -> None:
    response = httpx.post(f"{live_service}/forecast", json={"station_id": 108}, timeout=60)
    if response.status_code == 400:  # between issue periods (e.g. midday) no window can be forecast
        assert "no commute window is issued" in response.text
    else:
        assert response.status_code == 200, response.text
        assert response.json()["observed_hours"] == response.json()["history_hours"]


def test_non_json_bodies_get_415(service: str) -> None:
    response = httpx.post(
        f"{service}/predict", content=b"{}", headers={"content-type": "multipart/form-data"}
    )
    assert response.status_code == 415


def test_fuzzing_the_openapi_schema_finds_no_server_error(live_service: str, tmp_path: Path) -> None:
    """Every operation, the live forecast included (its KMA calls go to the local stand-in)."""
    report = tmp_path / "fuzz.json"
    result = run(
        tmp_path, "schemathesis", "run", f"{live_service}/docs.json", "--checks", "not_a_server_error",
        "--max-examples", "30", "--seed", "20261126", "--max-time", "150", "--workers", "1",
        "--generation-database", "none", "--report", "json", "--report-json-path", str(report), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:]
    cases = re.search(r"(\d+) generated", result.stdout)
    assert cases, result.stdout[-3000:]
    print(f"schemathesis: {cases.group(0)} test cases")  # for the closing note (pytest -s)
    assert int(cases.group(1)) >= 50
