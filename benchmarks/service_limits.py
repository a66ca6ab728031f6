"""What hostile or merely busy clients do to one server (issue 24): peak and idle-after RSS of the whole
server tree (circusd included, what the pod's cgroup counts), statuses, answer shapes, and probe latencies
while it happens. Each scenario gets a fresh server on 127.0.0.1 (`bentoml serve`, one worker).

    python -m benchmarks.service_limits --bentoml-home DIR [--src SRC] [--only bomb,max1]

`--src` serves another checkout's code (e.g. a `git worktree` of the old commit) with the same model and
the same client: how the 'before' column was measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port, http_server, max_legal_batch, server_processes, server_tree_rss

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def bomb(size: int) -> bytes:
    """`{"batch": {"requests": [{},{},...]}}` of `size` bytes: tens of millions of empty objects."""
    head, tail = b'{"batch": {"requests": [', b"{}]}}"
    count = (size - len(head) - len(tail)) // 3
    return head + b"{}," * count + tail


def zeros(size: int) -> bytes:
    head, tail = b'{"batch": {"requests": [', b"0]}}"
    return head + b"0," * ((size - len(head) - len(tail)) // 2) + tail


class Sampler:
    """RSS of the server tree every 20 ms in a thread; /livez and /readyz every 50 ms and a small /predict
    every 200 ms in a process of their own (`_client`): in this one, their timings would include waiting
    for the GIL behind the threads sending the bodies (httpx joins a 127 MB body in one call)."""

    def __init__(self, url: str, port: int) -> None:
        self.url, self.port = url, port
        self.peak = 0
        self.probes: dict[str, list[float]] = {"/livez": [], "/readyz": []}
        self.probe_failures: dict[str, int] = {}
        self.predict: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._rss)
        context = multiprocessing.get_context("spawn")
        self._client_stop = context.Event()
        self._results: Any = context.Queue()
        self._client = context.Process(target=_client, args=(url, self._client_stop, self._results))

    def _rss(self) -> None:
        """The tree is listed once a second (psutil.net_connections reads every socket on the machine:
        tens of ms of CPU), and its processes' RSS read every 20 ms."""
        import psutil  # noqa: PLC0415

        listed, processes = 0.0, []
        while not self._stop.is_set():
            if time.monotonic() - listed > 1:
                listed, processes = time.monotonic(), server_processes(self.port)
            total = 0
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._client.start()
        self._thread.start()
        if not self._results.get(timeout=60) == "started":
            raise RuntimeError("the probe process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._client_stop.set()
        self.probes, self.probe_failures, self.predict = self._results.get(timeout=120)
        self._client.join()
        self._thread.join()


def _client(url: str, stop: Any, results: Any) -> None:
    """The probe process: /livez and /readyz every 50 ms, a small /predict every 200 ms, until `stop`."""
    probes: dict[str, list[float]] = {"/livez": [], "/readyz": []}
    failures: Counter[str] = Counter()
    predict: list[float] = []
    small = json.loads((ROOT / "examples/predict_request.json").read_text())

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                for path, latencies in probes.items():
                    started = time.perf_counter()
                    try:
                        status = client.get(path).status_code
                    except httpx.HTTPError as exc:
                        failures[f"{path} {type(exc).__name__}"] += 1
                        continue
                    latencies.append(time.perf_counter() - started)
                    if status != 200:
                        failures[f"{path} {status}"] += 1
                time.sleep(0.05)

    def forecast() -> None:
        with httpx.Client(base_url=url, timeout=300) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    client.post("/predict", json=small)
                except httpx.HTTPError as exc:
                    failures[f"/predict {type(exc).__name__}"] += 1
                    continue
                predict.append(time.perf_counter() - started)
                time.sleep(0.2)

    threads = [threading.Thread(target=probe), threading.Thread(target=forecast)]
    for thread in threads:
        thread.start()
    results.put("started")
    for thread in threads:
        thread.join()
    results.put((probes, dict(failures), predict))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scenario(
    home: Path, src: Path | None, bodies: list[tuple[str, bytes]], env: dict[str, str]
) -> dict[str, Any]:
    """Fresh server; send the bodies at once; measure."""
    port = free_port()
    command = ["bentoml", "serve", "commute_weather.serving.service:CommuteComfort",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    serve_env = {"BENTOML_HOME": str(home), "COMMUTE_WEATHER_NOW": "2024-06-15T05:30:00+09:00", **env}
    if src is not None:
        serve_env["PYTHONPATH"] = str(src)
    logs = Path(tempfile.mkdtemp(prefix="limits-"))
    with http_server(command, port, ROOT, serve_env, log_dir=logs) as url:
        small = json.loads((ROOT / "examples/predict_request.json").read_text())
        with httpx.Client(base_url=url, timeout=30) as client:  # first calls pay for lazy imports
            client.post("/predict", json=small)
            for _ in range(5):
                client.get("/livez")
                client.get("/readyz")
        time.sleep(2)
        idle = server_tree_rss(port)

        def send(item: tuple[str, bytes]) -> tuple[int, str, float]:
            path, body = item
            started = time.perf_counter()
            try:
                response = httpx.post(
                    f"{url}{path}", content=body, headers={"content-type": "application/json"}, timeout=300
                )
            except httpx.HTTPError as exc:
                return -1, type(exc).__name__, time.perf_counter() - started
            shape = "ok" if response.status_code < 400 else _shape(response)
            return response.status_code, shape, time.perf_counter() - started

        with Sampler(url, port) as sampler, ThreadPoolExecutor(len(bodies)) as pool:
            answers = list(pool.map(send, bodies))
        small_latency = sampler.predict
        time.sleep(3)
        after = server_tree_rss(port)
    probes = sampler.probes
    return {
        "statuses": dict(Counter(str(status) for status, _, _ in answers)),
        "shapes": dict(Counter(shape for _, shape, _ in answers)),
        "seconds": max(t for _, _, t in answers),
        "idle_mib": idle / MIB,
        "peak_mib": max(sampler.peak, idle) / MIB,
        "after_mib": after / MIB,
        "livez_median_ms": 1000 * percentile(probes["/livez"], 0.5),
        "readyz_median_ms": 1000 * percentile(probes["/readyz"], 0.5),
        "livez_p99_ms": 1000 * percentile(probes["/livez"], 0.99),
        "readyz_p99_ms": 1000 * percentile(probes["/readyz"], 0.99),
        "probe_max_ms": 1000 * max(probes["/livez"] + probes["/readyz"], default=float("nan")),
        "probes": len(probes["/livez"]) + len(probes["/readyz"]),
        "probe_failures": dict(sampler.probe_failures),
        "predict_max_s": max(small_latency, default=float("nan")),
        "predict_median_s": statistics.median(small_latency) if small_latency else float("nan"),
    }


def _shape(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    return "ErrorBody" if isinstance(body, dict) and set(body) == {"error", "fields"} else "other JSON"


def scenarios() -> dict[str, Callable[[], list[tuple[str, bytes]]]]:
    def legal(n: int) -> Callable[[], list[tuple[str, bytes]]]:
        return lambda: [("/predict_batch", max_legal_batch())] * n

    return {
        "bomb 127 MiB of {}": lambda: [("/predict_batch", bomb(127 * MIB))],
        "127 MiB of 0,": lambda: [("/predict_batch", zeros(127 * MIB))],
        "bomb 16 MiB of {}": lambda: [("/predict_batch", bomb(16 * MIB))],
        **{f"{n} max legal batch{'es' if n > 1 else ''}": legal(n) for n in (1, 2, 4, 8, 12)},
        "bomb + 2 max legal batches": lambda: [
            ("/predict_batch", bomb(127 * MIB)),
            *[("/predict_batch", max_legal_batch())] * 2,
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bentoml-home", type=Path, required=True)
    parser.add_argument("--src", type=Path, help="serve this checkout's src/ (PYTHONPATH) instead")
    parser.add_argument("--only", help="comma-separated scenario names (prefix match)")
    parser.add_argument("--out", type=Path, help="append the rows as JSON lines here")
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    print(
        f"{'scenario':<30} {'statuses':<22} {'shapes':<18} {'idle':>6} {'peak':>6} {'after':>6} "
          f"{'livez p50':>9} {'p99':>7} {'readyz p50':>10} {'p99':>7} {'probes':>6} {'probe max':>9} "
          f"{'predict max':>11} {'took':>6}"
    )  # fmt: skip
    for name, make in scenarios().items():
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        row = scenario(args.bentoml_home, args.src, make(), {})
        print(f"{name:<30} {json.dumps(row['statuses']):<22} {json.dumps(row['shapes']):<18} "
              f"{row['idle_mib']:>6.0f} {row['peak_mib']:>6.0f} {row['after_mib']:>6.0f} "
              f"{row['livez_median_ms']:>7.0f}ms {row['livez_p99_ms']:>5.0f}ms "
              f"{row['readyz_median_ms']:>8.0f}ms {row['readyz_p99_ms']:>5.0f}ms {row['probes']:>6} "
              f"{row['probe_max_ms']:>7.0f}ms "
              f"{row['predict_max_s']:>10.2f}s {row['seconds']:>5.1f}s", flush=True)  # fmt: skip
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps({"scenario": name, "src": str(args.src or ""), **row}) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    main()
