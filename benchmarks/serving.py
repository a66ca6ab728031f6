"""Serving: the BentoML service against a minimal FastAPI+uvicorn app with the same model, request models
and feature code (benchmarks/fastapi_app.py), side by side on loopback.

Per server and round: cold start (process start to /readyz 200), sequential latency (one client, one
request at a time), and throughput with p99 at concurrency 16, for `predict` (one forecast per call) and
`predict_batch` (100 forecasts per call). Rounds alternate the servers so machine noise hits both; the
tables show medians over rounds and the BentoML/FastAPI ratios. Both servers: one worker process, one
BLAS/OpenMP thread. The load client runs in this process, on the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.common import (
    PINNED_THREADS,
    ROOT,
    console,
    load_predictor,
    median,
    percentile,
    run_measured,
    save,
    served,
    table,
)
from commute_weather.contracts.quality import clean_observations
from commute_weather.forecast.features import issue_times
from commute_weather.serving.api_models import ForecastRequest
from commute_weather.serving.handlers import forecast, request_from_frame
from tests.servers import free_port, http_server

BATCH = 100
CONCURRENCY = 16


def request_bodies(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Requests for real test-period targets, each with the hours up to issue time that the features read
    (25 by default), as clients send them."""
    paths = served()
    # without the hours validate quarantined, as featurize reads them: a client sends what passed the contract
    observations, _ = clean_observations(
        pd.read_parquet(ROOT / paths.observations), json.loads((ROOT / paths.validation).read_text())
    )
    targets = pd.read_parquet(ROOT / paths.predictions)
    targets = targets[["station_id", "date", "window"]]
    predictor = load_predictor()
    span = pd.Timedelta(hours=predictor.history_hours - 1)
    targets = targets[targets["station_id"].map(predictor.answers_for)]  # what the service answers
    targets = targets.sample(count, random_state=seed).reset_index(drop=True)
    by_station = dict(tuple(observations.groupby("station_id")))
    bodies = []
    for target, issue in zip(targets.itertuples(), issue_times(targets, predictor.commute), strict=True):
        rows = by_station[target.station_id]
        rows = rows[rows["observed_at"].between(issue - span, issue)]
        request = request_from_frame(target.station_id, target.date.date(), target.window, rows)
        bodies.append(request.model_dump(mode="json"))
    return bodies


@contextmanager
def bentoml_server(work: Path) -> Iterator[str]:
    port = free_port()
    env = {**PINNED_THREADS, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    command = [
        "bentoml",
        "serve",
        "commute_weather.serving.service:CommuteComfort",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with http_server(command, port, ROOT, env, log_dir=work) as url:
        yield url


@contextmanager
def fastapi_server(work: Path) -> Iterator[str]:
    port = free_port()
    command = [
        "uvicorn",
        "benchmarks.fastapi_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with http_server(
        command, port, ROOT, {**PINNED_THREADS, "MODEL_DIR": str(ROOT / served().model.parent)}, log_dir=work
    ) as url:
        yield url


async def load(
    url: str, path: str, payloads: list[bytes], concurrency: int, count: int, limit_s: float
) -> dict[str, Any]:
    """`count` POSTs (stopping early after `limit_s`) from `concurrency` keep-alive connections."""
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    numbers = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        deadline = started + limit_s

        async def worker() -> None:
            while (i := next(numbers)) < count and time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.post(path, content=payloads[i % len(payloads)], headers=headers)
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": sum(n for status, n in statuses.items() if status != 200),
        "statuses": {str(k): v for k, v in statuses.items()},
        "per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def one_round(
    server: Callable[[Path], AbstractContextManager[str]],
    work: Path,
    bodies: list[dict[str, Any]],
    quick: bool,
) -> dict[str, Any]:
    singles = [json.dumps({"request": b}).encode() for b in bodies]
    batches = [
        json.dumps({"batch": {"requests": bodies[i : i + BATCH]}}).encode()
        for i in range(0, len(bodies) - BATCH + 1, BATCH // 4)
    ]
    scale = 0.2 if quick else 1.0
    started = time.perf_counter()
    with server(work) as url:
        result: dict[str, Any] = {"cold_start_s": time.perf_counter() - started}
        # A short warm-up: connections, first-call paths, the allocator.
        asyncio.run(load(url, "/predict", singles, 1, 30, 10))
        runs = {
            "predict_sequential": ("/predict", singles, 1, int(400 * scale), 20),
            "predict_concurrent": ("/predict", singles, CONCURRENCY, int(4000 * scale), 20),
            "batch_sequential": ("/predict_batch", batches, 1, int(40 * scale), 20),
            "batch_concurrent": ("/predict_batch", batches, CONCURRENCY, int(400 * scale), 30),
        }
        for name, (path, payloads, concurrency, count, limit_s) in runs.items():
            result[name] = asyncio.run(load(url, path, payloads, concurrency, count, limit_s))
    return result


def in_process_ms(bodies: list[dict[str, Any]], repeats: int = 3) -> dict[str, float]:
    """What one forecast costs without HTTP: request validation, checks, features and the model, in this
    process with threads pinned like the servers'. The rest of a server's latency is HTTP, JSON and the
    framework (and the load client, which shares the cores)."""
    predictor = load_predictor()
    timings: dict[str, list[float]] = {"one": [], "batch": []}
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            for body in bodies:
                started = time.perf_counter()
                forecast(predictor, [ForecastRequest.model_validate(body)], "bench")
                timings["one"].append(time.perf_counter() - started)
            for i in range(0, len(bodies) - BATCH + 1, BATCH):
                started = time.perf_counter()
                forecast(
                    predictor, [ForecastRequest.model_validate(b) for b in bodies[i : i + BATCH]], "bench"
                )
                timings["batch"].append(time.perf_counter() - started)
    return {"predict_p50_ms": median(timings["one"]) * 1000, "batch_p50_ms": median(timings["batch"]) * 1000}


def package_model(work: Path) -> None:
    """The pipeline's current model in a scratch BentoML store, through the real packaging path (the gate
    is checked; a dirty tree is allowed: this store is thrown away)."""
    run_measured(
        ["python", "-m", "commute_weather.serving.packaging", "--model-only", "--allow-dirty"],
        ROOT,
        {"BENTOML_HOME": str(work / "bentoml")},
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer requests per run (a smoke run)")
    args = parser.parse_args(argv)
    bodies = request_bodies(400)
    servers = {"bentoml": bentoml_server, "fastapi": fastapi_server}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        work = Path(scratch)
        package_model(work)
        for i in range(args.rounds):
            for name, server in servers.items():
                console.print(f"round {i + 1}/{args.rounds}: {name}")
                rounds[name].append(one_round(server, work, bodies, args.quick))
    summary = summarize(rounds)
    summary["in_process"] = in_process_ms(bodies)
    report(summary)
    save(
        "serving",
        {
            "rounds": rounds,
            "summary": summary,
            "batch_size": BATCH,
            "concurrency": CONCURRENCY,
            "threads": PINNED_THREADS,
        },
    )
    return summary


def summarize(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, results in rounds.items():
        flat: dict[str, float] = {"cold_start_s": median([r["cold_start_s"] for r in results])}
        for run in ("predict_sequential", "predict_concurrent", "batch_sequential", "batch_concurrent"):
            for key in ("per_s", "p50_ms", "p95_ms", "p99_ms", "errors"):
                flat[f"{run}.{key}"] = median([r[run][key] for r in results])
        summary[name] = flat
    return summary


def report(summary: dict[str, Any]) -> None:
    bento, plain = summary["bentoml"], summary["fastapi"]
    rows = []
    for key, label in [
        ("cold_start_s", "cold start to ready (s)"),
        ("predict_sequential.p50_ms", "predict, sequential p50 (ms)"),
        ("predict_sequential.p95_ms", "predict, sequential p95 (ms)"),
        ("predict_sequential.p99_ms", "predict, sequential p99 (ms)"),
        ("predict_concurrent.per_s", f"predict, {CONCURRENCY} concurrent: forecasts/s"),
        ("predict_concurrent.p99_ms", f"predict, {CONCURRENCY} concurrent: p99 (ms)"),
        ("predict_concurrent.errors", f"predict, {CONCURRENCY} concurrent: errors"),
        ("batch_sequential.p50_ms", f"predict_batch ({BATCH}), sequential p50 (ms)"),
        ("batch_sequential.p99_ms", f"predict_batch ({BATCH}), sequential p99 (ms)"),
        ("batch_concurrent.per_s", f"predict_batch ({BATCH}), {CONCURRENCY} concurrent: calls/s"),
        ("batch_concurrent.p99_ms", f"predict_batch ({BATCH}), {CONCURRENCY} concurrent: p99 (ms)"),
        ("batch_concurrent.errors", f"predict_batch ({BATCH}), {CONCURRENCY} concurrent: errors"),
    ]:
        ratio = bento[key] / plain[key] if plain[key] else float("nan")
        rows.append((label, bento[key], plain[key], ratio if "errors" not in key else "-"))
    inside = summary["in_process"]
    rows.append(
        (
            "in process, no HTTP: one forecast p50 (ms)",
            inside["predict_p50_ms"],
            inside["predict_p50_ms"],
            "-",
        )
    )
    rows.append(
        (
            f"in process, no HTTP: {BATCH} forecasts p50 (ms)",
            inside["batch_p50_ms"],
            inside["batch_p50_ms"],
            "-",
        )
    )
    table("Serving: BentoML vs FastAPI (medians over rounds)", ["", "BentoML", "FastAPI", "ratio B/F"], rows)


if __name__ == "__main__":
    main()
