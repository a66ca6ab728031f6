"""The BentoML service served over HTTP: packaging gates, parity with evaluate, bad input, fuzzing."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from commute_weather.clock import KST
from commute_weather.forecast.features import build_features
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.api_models import Observation
from tests.e2e.conftest import REPO, package, run
from tests.servers import (
    bentoml_serve,
    fake_kma_api,
    free_port,
    max_legal_batch,
    print_table,
    run_fuzz,
    server_processes,
    server_tree_rss,
)

pytestmark = pytest.mark.slow
SERVICE = "commute_weather.serving.service:CommuteComfort"
MORNING_ISSUED = "2024-06-15T05:30:00+09:00"  # the service's clock: the morning forecast has been issued
BODY_CAP = 8 * 2**20
BODY_TIMEOUT_S = 3
IN_FLIGHT = 2 * BODY_CAP
SERVED = {
    "COMMUTE_WEATHER_NOW": MORNING_ISSUED,
    "COMMUTE_MAX_BODY_BYTES": str(BODY_CAP),
    "COMMUTE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "COMMUTE_INFLIGHT_BYTES": str(IN_FLIGHT),
}


@pytest.fixture(scope="module")
def packaged(
    _reproduced_small: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str], str]:
    """The small pipeline (the real record's model) in a clean copy, packaged into its own BentoML home."""
    return package(_reproduced_small, tmp_path_factory.mktemp("service") / "repo")


@pytest.fixture(scope="module")
def service(packaged: tuple[Path, dict[str, str], str]) -> Iterator[str]:
    repo, env, _ = packaged
    with bentoml_serve(SERVICE, repo, {**env, **SERVED, "KMA_AUTH_KEY": ""}) as url:
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
        for r in rows[[c for c in rows.columns if c in Observation.model_fields]].to_dict(orient="records")
    ]
    return {"station_id": station, "date": date.date().isoformat(), "window": window, "observations": records}


def requests_for_test_rows(repo: Path, count: int, seed: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`count` random rows of the evaluate stage's test predictions, and the request a client sends for
    each."""
    observations = pd.read_parquet(repo / "data/interim/cheongju/observations.parquet")
    rows = pd.read_parquet(repo / "data/predictions/cheongju/test.parquet").sample(count, random_state=seed)
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
        "commute_weather.serving.packaging",
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
        dirty = run(repo, "python", "-m", "commute_weather.serving.packaging", check=False, env=other_home)
        assert dirty.returncode == 1
        assert "uncommitted changes" in dirty.stderr
    finally:
        run(repo, "git", "checkout", "README.md")


def test_a_swapped_or_stale_model_is_refused(
    packaged: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """A model.pkl that is not the one evaluate measured (retrained or copied by hand: DVC-tracked, so Git
    sees no change) is refused, naming the file and what to run."""
    repo, _, _ = packaged
    model = repo / "models/cheongju/model.pkl"
    backup = tmp_path / "model.pkl"
    shutil.copy2(model, backup)
    from sklearn.dummy import DummyRegressor  # noqa: PLC0415

    other = DummyRegressor().fit([[0.0]], [50.0])
    model.write_bytes(pickle.dumps(other))
    try:
        refused = run(repo, "python", "-m", "commute_weather.serving.packaging", "--model-only", check=False,
                      env={"BENTOML_HOME": str(tmp_path / "home")})  # fmt: skip
    finally:
        shutil.copy2(backup, model)
    assert refused.returncode == 1, refused.stdout
    message = " ".join(refused.stderr.split())
    assert "models/cheongju/model.pkl is not the file stage 'train@cheongju' produced" in message, message
    assert "Run `dvc repro`" in message
    assert not (tmp_path / "home" / "models").exists()


def test_predictions_over_http_equal_the_evaluate_stage(
    packaged: tuple[Path, dict[str, str], str], service: str
) -> None:
    expected, requests = requests_for_test_rows(packaged[0], 200, seed=0)
    answers: list[dict[str, Any]] = []
    with httpx.Client(base_url=service, timeout=60) as client:
        for start in range(0, len(requests), 50):
            response = client.post(
                "/predict_batch", json={"batch": {"requests": requests[start : start + 50]}}
            )
            assert response.status_code == 200, response.text
            answers += response.json()
        single = client.post("/predict", json={"request": requests[0]}).json()
    # Exactly: the same features, the same model, the same calibration (P(wet) and the interval too).
    for field, column in [("score", "model"), ("wet_probability", "wet_probability"),
                          ("score_low", "score_low"), ("score_high", "score_high")]:  # fmt: skip
        assert [a[field] for a in answers] == expected[column].tolist(), field
    assert expected["wet_probability"].nunique() > 100  # the probabilities differ from row to row
    assert {k: single[k] for k in ("score", "wet_probability", "score_low", "score_high")} == {
        k: answers[0][k] for k in ("score", "wet_probability", "score_low", "score_high")
    }
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


def pipeline_forecast(repo: Path, request: dict[str, Any]) -> dict[str, Any]:
    """What the pipeline's path gives for a request's history: featurize's `build_features` over the
    observations as one station record, and the packaged model with the params it was trained with."""
    model = repo / "models/cheongju/model.pkl"
    metadata = json.loads((repo / "models/cheongju/metadata.json").read_text())
    predictor = Predictor.from_artifacts(model.read_bytes(), metadata)
    observations = pd.DataFrame(request["observations"]).assign(station_id=request["station_id"])
    observations["observed_at"] = pd.to_datetime(observations["observed_at"]).dt.tz_convert(KST)
    target = pd.DataFrame(
        {"station_id": [request["station_id"]], "date": [pd.Timestamp(request["date"])],
         "window": [request["window"]]}
    )  # fmt: skip
    features = build_features(observations, target, predictor.commute, predictor.featurize, predictor.comfort)
    row = predictor.predict_features(features).iloc[0]
    return {k: row[k] for k in ("score", "label", "wet_probability", "score_low", "score_high",
                                "persistence_score")}  # fmt: skip


def test_readme_example_gets_the_pipelines_forecast_and_rain_before_issue_lowers_it(
    packaged: tuple[Path, dict[str, str], str], service: str
) -> None:
    """The README's request is answered with exactly what the pipeline computes for the same hours; the
    same request with the last 6 hours raining is answered with a lower score and a higher P(wet)."""
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    wet = copy.deepcopy(body)
    for hour in wet["request"]["observations"][-6:]:
        hour |= {"precipitation_type": "rain", "precipitation_mm": 4.0, "humidity_pct": 97.0,
                 "dew_point_c": hour["temperature_c"] - 0.5, "cloud_cover_tenths": 10.0}  # fmt: skip
    answers = {}
    for name, request in {"dry": body, "wet": wet}.items():
        response = httpx.post(f"{service}/predict", json=request, timeout=30)
        assert response.status_code == 200, response.text
        answers[name] = response.json()
        expected = pipeline_forecast(packaged[0], request["request"])
        assert {k: answers[name][k] for k in expected} == expected, name
    # measured on the SMALL pipeline's model: score 94 -> 56, P(wet) 0.15 -> 0.90
    assert answers["wet"]["score"] < answers["dry"]["score"] - 15, answers
    assert answers["wet"]["wet_probability"] > answers["dry"]["wet_probability"] + 0.3, answers


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
    "station id as a string": (lambda r: r.update(station_id="108"), "station_id"),
    "station id as a float": (lambda r: r.update(station_id=108.0), "station_id"),
    "station id as a boolean": (lambda r: r.update(station_id=True), "station_id"),
    "dew point above temperature": (
        lambda r: r["observations"][4].update(dew_point_c=30.0, temperature_c=10.0),
        "dew_point_c",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_4xx_that_names_the_field(service: str, case: str) -> None:
    edit, field = BAD_INPUTS[case]
    body = bad(json.loads((REPO / "examples/predict_request.json").read_text()), edit)
    response = httpx.post(f"{service}/predict", json=body, timeout=30)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    answer = response.json()
    assert set(answer) == {"error", "fields"}, answer  # one shape for every error (ErrorBody)
    assert field in answer["error"], answer


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
    model = (packaged[0] / "models/cheongju/model.pkl").read_bytes()
    assert card["model_sha256"] == hashlib.sha256(model).hexdigest()
    assert card["gate"]["approved"] is True
    assert {c["check"] for c in card["gate"]["checks"]} >= {"rmse_max", "min_skill", "min_train_rows"}
    # the SMALL pipeline's model knows Cheongju only, and says how it did there
    assert [(c["station_id"], c["name"], c["seen"]) for c in card["stations"]] == [(131, "Cheongju", True)]
    assert card["stations"][0]["test"]["model_rmse"] == card["metrics"]["model"]["rmse"]
    assert card["unseen_stations"] is False
    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(f"{service}{path}", timeout=10).status_code == 200, path


def test_a_station_the_model_was_not_trained_on_is_a_400_naming_the_ones_it_knows(service: str) -> None:
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    answered = httpx.post(f"{service}/predict", json=body, timeout=30)
    assert answered.status_code == 200, answered.text
    assert answered.json()["station_seen"] is True
    body["request"]["station_id"] = 108  # in the registry, not in the SMALL model's training rows
    refused = httpx.post(f"{service}/predict", json=body, timeout=30)
    assert refused.status_code == 400, refused.text
    assert "not trained on station 108" in refused.json()["error"]
    assert "131 Cheongju" in refused.json()["error"]
    live = httpx.post(f"{service}/forecast", json={"station_id": 108}, timeout=30)
    assert live.status_code == 400 and "131 Cheongju" in live.json()["error"], live.text


def test_live_forecast_without_key_is_503_and_says_what_to_set(service: str) -> None:
    response = httpx.post(f"{service}/forecast", json={"station_id": 131}, timeout=30)
    assert response.status_code == 503
    assert response.json() == {
        "error": "live forecasts need KMA_AUTH_KEY set in the service's environment",
        "fields": [],
    }


def test_forecast_before_issue_time_says_which_window_and_when(service: str) -> None:
    """At 05:30 the evening forecast is not issued yet: no key needed to say when it will be."""
    response = httpx.post(f"{service}/forecast", json={"station_id": 131, "window": "evening"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "station_id": 131,
        "date": "2024-06-15",
        "window": "evening",
        "issue_at": "2024-06-15T15:00:00+09:00",
        "issued": False,
        "forecast": None,
    }


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
        bentoml_serve(
            SERVICE, repo, {**env, **SERVED, "KMA_AUTH_KEY": "fake-key", "KMA_API_URL": kma}
        ) as url,
    ):
        yield url


def test_live_forecast_fetches_and_forecasts_the_window_being_issued(live_service: str) -> None:
    response = httpx.post(f"{live_service}/forecast", json={"station_id": 131}, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["date"], answer["window"], answer["issued"]) == ("2024-06-15", "morning", True)
    assert answer["issue_at"] == answer["forecast"]["issue_at"] == "2024-06-15T04:00:00+09:00"
    assert answer["forecast"]["observed_hours"] == answer["forecast"]["history_hours"]


def test_non_json_bodies_get_415(service: str) -> None:
    response = httpx.post(
        f"{service}/predict", content=b"{}", headers={"content-type": "multipart/form-data"}
    )
    assert response.status_code == 415


def test_fuzzing_finds_no_server_error_and_no_nonconforming_answer(live_service: str, tmp_path: Path) -> None:
    """Schemathesis with every check (response schema conformance included) on every operation, the live
    forecast included (its KMA calls go to the local stand-in), then the corpus of nasty inputs. `make
    fuzz` runs the same with a larger budget."""
    table = run_fuzz(live_service, tmp_path, max_examples=15, seed=20261127, max_body_bytes=BODY_CAP)
    print_table(table)  # for the closing note (pytest -s)
    assert table["schemathesis_exit"] == 0, table["schemathesis_summary"]
    assert table["server_errors"] == 0, table["endpoints"]
    assert table["corpus_failures"] == [], table["corpus_failures"]
    assert table["requests"] >= 200, table["endpoints"]


def test_client_errors_are_logged_in_one_line_without_the_payload(service: str, packaged: Any) -> None:
    repo = packaged[0]
    log = repo / f"serve-{service.rsplit(':', 1)[1]}.log"
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    body["request"]["observations"][0]["humidity_pct"] = 140.123456
    before = log.read_text().splitlines()
    for _ in range(5):
        assert httpx.post(f"{service}/predict", json=body, timeout=30).status_code == 400
    time.sleep(0.5)
    new = log.read_text().splitlines()[len(before) :]
    errors = [line for line in new if "client error on /predict" in line]
    assert len(errors) == 5, new
    assert not any("Traceback" in line or "140.123456" in line for line in new), new


def raw_post(url: str, head: bytes, chunks: list[bytes], linger_s: float = 60) -> tuple[bytes, float]:
    """POST over a raw socket (so that a server may answer before the body is sent); the answer's first
    bytes and how long it took (waiting at most `linger_s`)."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=linger_s) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed while the body was still being sent
            pass
        answer = b""
        # Headers and body may arrive in separate segments: read until the declared body is complete.
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - started


def _length(answer: bytes) -> int:
    found = re.search(rb"(?i)content-length: *(\d+)", answer.partition(b"\r\n\r\n")[0])
    return int(found[1]) if found else 0


def test_a_body_over_the_cap_gets_413_before_it_is_read(service: str) -> None:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {300 * 2**20}\r\n\r\n"
    ).encode()
    answer, took = raw_post(service, head, [b"{"])  # declares 300 MB, sends one byte
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"byte cap" in answer
    assert took < 5


def test_several_oversized_chunked_bodies_at_once_keep_memory_bounded(service: str) -> None:
    """Without a Content-Length the cap is counted as bytes arrive: 4 bodies of 5x the cap at once."""
    port = int(service.rsplit(":", 1)[1])
    before = server_tree_rss(port)
    chunk = b"%x\r\n%s\r\n" % (2**20, b" " * 2**20)
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    peak = before
    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = [pool.submit(raw_post, service, head, [chunk] * (5 * BODY_CAP // 2**20)) for _ in range(4)]
        while not all(f.done() for f in sent):
            peak = max(peak, server_tree_rss(port))
            time.sleep(0.02)
    for future in sent:
        answer, _ = future.result()
        assert answer.startswith(b"HTTP/1.1 413"), answer
    print(f"server RSS {before / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")  # for the closing note
    assert peak - before < 4 * BODY_CAP * 3, (before, peak)  # bounded by the cap, not by what was sent


@pytest.fixture(scope="module")
def hanging_upstream_service(packaged: tuple[Path, dict[str, str], str]) -> Iterator[str]:
    """The service with a KMA stand-in that trickles one byte every 0.5 s, and a 3 s fetch deadline."""
    repo, env, _ = packaged
    with (
        fake_kma_api(trickle_s=0.5) as kma,
        bentoml_serve(
            SERVICE,
            repo,
            {**env, **SERVED, "KMA_AUTH_KEY": "fake+key/=", "KMA_API_URL": kma, "KMA_DEADLINE_S": "3"},
        ) as url,  # fmt: skip
    ):
        yield url


def test_a_hanging_upstream_never_delays_predict(hanging_upstream_service: str) -> None:
    """Eight live forecasts against a KMA API that trickles bytes: each ends in a 504 (or 503 once every
    fetch slot is taken) within its deadline, and /predict keeps answering at once meanwhile."""
    url = hanging_upstream_service
    body = json.loads((REPO / "examples/predict_request.json").read_text())

    def live(_: int) -> tuple[int, float, dict[str, Any]]:
        started = time.monotonic()
        response = httpx.post(f"{url}/forecast", json={"station_id": 131}, timeout=60)
        return response.status_code, time.monotonic() - started, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        forecasts = [pool.submit(live, i) for i in range(8)]
        time.sleep(0.5)
        latencies = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(10):
                started = time.monotonic()
                assert client.post("/predict", json=body).status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.2)
        answers = [f.result() for f in forecasts]
    print(f"/predict latencies while the upstream hangs: max {max(latencies):.3f} s")  # closing note
    assert max(latencies) < 1.0, latencies
    assert {status for status, _, _ in answers} <= {503, 504}, answers
    assert 504 in {status for status, _, _ in answers}
    assert max(took for _, took, _ in answers) < 3 + 3, answers  # deadline + backoff + margin
    for status, _, answer in answers:
        assert set(answer) == {"error", "fields"}
        assert "within 3 s" in answer["error"] if status == 504 else "in flight" in answer["error"], answer
        assert "fake" not in answer["error"] and "key" not in answer["error"].lower()


# --- hostile and busy clients (issue 24): status, shape and the server tree's memory -------------------


def shaped(answer: bytes) -> dict[str, Any]:
    """The JSON body of a raw HTTP answer, checked to be an ErrorBody."""
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert set(body) == {"error", "fields"}, body
    return body


def post(url: str, path: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}{path}", content=body, headers={"content-type": "application/json"}, timeout=120)


def test_duplicate_keys_are_refused(service: str) -> None:
    """json keeps the last of two equal keys: `{"station_id": 99999, "station_id": 131}` was a 200."""
    text = (REPO / "examples/predict_request.json").read_text()
    twice = text.replace('"station_id": 131', '"station_id": 99999, "station_id": 131', 1)
    assert twice != text
    response = post(service, "/predict", twice.encode())
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "body: duplicate key 'station_id' in a JSON object",
        "fields": ["body"],
    }


def test_a_json_bomb_under_the_byte_cap_is_refused_without_building_it(service: str) -> None:
    """Just under the cap, `{},` repeated: more values than a legal batch can hold. Counted on the bytes as
    they arrive: 413 and no memory to speak of (pydantic built every object first: 16 MiB took 504 MiB)."""
    head, tail = b'{"batch": {"requests": [', b"{}]}}"
    bomb = head + b"{}," * ((BODY_CAP - 64) // 3) + tail
    port = int(service.rsplit(":", 1)[1])
    before = server_tree_rss(port)
    peak = before
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(post, service, "/predict_batch", bomb)
        while not sent.done():
            peak = max(peak, server_tree_rss(port))
            time.sleep(0.01)
    response = sent.result()
    print(f"bomb: server RSS {before / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")  # for the closing note
    assert response.status_code == 413, response.text
    assert response.json()["fields"] == ["body"]
    assert "more JSON values than" in response.json()["error"]
    assert peak - before < 3 * BODY_CAP, (before, peak)


def test_concurrent_largest_batches_are_answered_or_told_to_retry_within_the_memory_bound(
    service: str,
) -> None:
    """Six clients send the largest batch this server's cap allows at once: each gets its forecasts or a
    503 with Retry-After (the bytes in flight are bounded), never a crash; memory stays bounded by the
    in-flight budget, not by the number of clients."""
    hours = 25
    count = 1000
    while len(max_legal_batch(count, hours)) > BODY_CAP:
        count -= 50
    body = max_legal_batch(count, hours)
    port = int(service.rsplit(":", 1)[1])
    before = server_tree_rss(port)
    peak = before
    with ThreadPoolExecutor(6) as pool:
        sent = [pool.submit(post, service, "/predict_batch", body) for _ in range(6)]
        while not all(f.done() for f in sent):
            peak = max(peak, server_tree_rss(port))
            time.sleep(0.01)
    answers = [f.result() for f in sent]
    print(f"{count} x {hours} h batches: {[a.status_code for a in answers]}, RSS {before / 2**20:.0f} MiB, "
          f"peak {peak / 2**20:.0f} MiB")  # fmt: skip
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["retry-after"].isdigit()
            assert set(answer.json()) == {"error", "fields"}
        else:
            assert len(answer.json()) == count
    # Measured: one 8 MB batch of 25-hour requests adds ~110 MiB at peak; two fit the in-flight budget.
    assert peak - before < 400 * 2**20, (before, peak)


def test_a_slow_or_incomplete_upload_gets_408_in_the_error_shape(service: str) -> None:
    """A body that does not arrive in full within the upload deadline, whether it declared a Content-Length
    larger than what is sent or is chunked without its terminator: 408 in ErrorBody (both were 504 after
    BentoML's 30 s, in a shape of its own; the chunked one then got no answer at all, the 408's message
    failing to format without a length)."""
    heads = {
        "content-length": b"Content-Length: 1000\r\n\r\n{",
        "chunked": b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
    }
    start = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with ThreadPoolExecutor(len(heads)) as pool:
        sent = {
            name: pool.submit(raw_post, service, start + head, [], BODY_TIMEOUT_S + 30)
            for name, head in heads.items()
        }
        answers = {name: future.result() for name, future in sent.items()}
    for name, (answer, took) in answers.items():
        assert answer.startswith(b"HTTP/1.1 408"), (name, answer)
        assert "incomplete after 3 s" in shaped(answer)["error"], name
        assert BODY_TIMEOUT_S <= took < BODY_TIMEOUT_S + 5, (name, took)
    assert "of an unknown number of bytes" in shaped(answers["chunked"][0])["error"]


def test_a_client_that_goes_away_mid_body_is_not_a_server_error(service: str, packaged: Any) -> None:
    """Was logged status=500 and counted in bentoml_service_request_total{code="500"}."""
    log = packaged[0] / f"serve-{service.rsplit(':', 1)[1]}.log"
    before = log.read_text().count("client went away on /predict")
    host, port = service.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 5000\r\n\r\n" + b" " * 100
            )
            time.sleep(0.2)
    time.sleep(1)
    metrics = httpx.get(f"{service}/metrics", timeout=10).text
    server_errors = [
        line for line in metrics.splitlines()
        if line.startswith("bentoml_service_request_total") and 'endpoint="/predict"' in line
        and re.search(r'http_response_code="5', line) and float(line.rsplit(" ", 1)[1]) > 0
    ]  # fmt: skip
    assert server_errors == [], server_errors
    assert log.read_text().count("client went away on /predict") == before + 3


def session_leader(url: str) -> int:
    """The `bentoml serve` process (circusd) of the server at `url`."""
    port = int(url.rsplit(":", 1)[1])
    pid: int = server_processes(port)[0].pid
    return pid


def test_a_killed_worker_is_logged_in_one_line_and_replaced(
    packaged: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """SIGKILL (what the OOM killer sends) to the worker: circus restarted it without a word."""
    import psutil  # noqa: PLC0415

    repo, env, _ = packaged
    body = json.loads((REPO / "examples/predict_request.json").read_text())
    with bentoml_serve(SERVICE, repo, {**env, **SERVED}) as url:
        leader = psutil.Process(session_leader(url))
        workers = [p for p in leader.children(recursive=True) if p.pid != leader.pid]
        assert len(workers) == 1, workers
        workers[0].send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.post(f"{url}/predict", json=body, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no worker answered 120 s after the kill"
            time.sleep(0.5)
        log = (repo / f"serve-{url.rsplit(':', 1)[1]}.log").read_text()
    lines = [line for line in log.splitlines() if "died without shutting down" in line]
    assert len(lines) == 1, log[-3000:]
    assert f"worker pid {workers[0].pid} died" in lines[0]


def test_a_corrupt_model_stops_the_server_with_one_line(
    packaged: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """A model file that is not the one packaged: `bentoml serve` exits 3 at once with one line (circus
    restarted the failing worker every ~10 s forever, /readyz hanging)."""
    repo, env, _ = packaged
    home = tmp_path / "bentoml-home"
    shutil.copytree(env["BENTOML_HOME"], home)
    (model,) = home.glob("models/commute_comfort/*/model.pkl")
    data = bytearray(model.read_bytes())
    data[1000:1008] = b"corrupt!"
    model.write_bytes(bytes(data))
    started = time.monotonic()
    command = ["bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(free_port())]
    try:
        result = subprocess.run(
            command, cwd=repo, env={**os.environ, "BENTOML_HOME": str(home)}, capture_output=True, text=True,
            timeout=150, start_new_session=True, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"still running after 150 s: {str(exc.stdout)[-2000:]}") from None
    output = result.stdout + result.stderr
    assert result.returncode == 3, output[-3000:]
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith("commute_comfort: cannot serve the model: RuntimeError:")
    assert "the model store is corrupt" in lines[0]
    assert time.monotonic() - started < 120


def test_sigterm_answers_the_requests_in_flight(packaged: tuple[Path, dict[str, str], str]) -> None:
    """Kubernetes sends SIGTERM after the preStop hook (deploy/base/deployment.yaml): requests in flight are
    still answered. Each body arrives in two halves 1.5 s apart, so that both requests are in flight when
    the signal comes whatever the machine's speed (a 3 MB batch sent at once could be answered within the
    1 s the test used to wait)."""
    repo, env, _ = packaged
    body = max_legal_batch(300, 25)

    def in_two_halves() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        time.sleep(1.5)
        yield body[len(body) // 2 :]

    def slow_post(url: str) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return httpx.post(f"{url}/predict_batch", content=in_two_halves(), headers=headers, timeout=120)

    with bentoml_serve(SERVICE, repo, {**env, **SERVED}) as url, ThreadPoolExecutor(2) as pool:
        sent = [pool.submit(slow_post, url) for _ in range(2)]
        time.sleep(0.75)  # both are halfway through their bodies
        assert not any(f.done() for f in sent)
        os.kill(session_leader(url), signal.SIGTERM)
        answers = [f.result() for f in sent]
    assert [a.status_code for a in answers] == [200, 200], [a.text[:300] for a in answers]
    assert all(len(a.json()) == 300 for a in answers)
