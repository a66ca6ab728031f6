"""Start and stop real servers on 127.0.0.1 for tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def bentoml_serve(target: str, cwd: Path, env: dict[str, str], timeout_s: float = 120) -> Iterator[str]:
    """`bentoml serve target` on a free loopback port; yields the base URL once /readyz answers 200."""
    port = free_port()
    command = ["bentoml", "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    with http_server(command, port, cwd, env, timeout_s) as url:
        yield url


@contextmanager
def http_server(
    command: list[str],
    port: int,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float = 120,
    log_dir: Path | None = None,
) -> Iterator[str]:
    """Run a server command that listens on 127.0.0.1:port; yield its URL once GET /readyz answers 200,
    and stop the whole process group afterwards. Its output goes to a log in log_dir (default: cwd)."""
    log_path = (log_dir or cwd) / f"serve-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited {process.returncode}: {log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready after {timeout_s} s")
            time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextmanager
def fake_kma_api(
    trickle_s: float | None = None,
    synthetic_seed: int | None = None,
    broken_months: frozenset[str] = frozenset(),
) -> Iterator[str]:
    """A stand-in for the KMA API Hub on 127.0.0.1: valid kma_sfctm3 bodies for any station and time range,
    with steady mild weather. Only the internet service itself cannot exist here. With `trickle_s`, it
    plays an upstream in trouble: it sends one byte of the body every `trickle_s` seconds. With
    `synthetic_seed`, a whole month (tm1 its first hour) is the sample generator's weather for that station
    and month, so a model can be trained on it; a month in `broken_months` (YYYY-MM) comes back 80 degC
    warm, which the data contract refuses."""
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415
    from urllib.parse import parse_qs, urlparse  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from commute_weather.clock import KST  # noqa: PLC0415
    from commute_weather.sources.kma.typ01 import format_typ01  # noqa: PLC0415
    from commute_weather.sources.synthetic import generate  # noqa: PLC0415

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            times = pd.date_range(
                pd.Timestamp(query["tm1"][0]), pd.Timestamp(query["tm2"][0]), freq="h", tz=KST
            )
            month = times[0].strftime("%Y-%m")
            if synthetic_seed is not None and month not in broken_months:
                [generated] = generate((int(query["stn"][0]),), month, month, synthetic_seed)
                body = generated.text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            steady = {
                "TA": 18.0,
                "TD": 9.0,
                "HM": 55.0,
                "WS": 2.0,
                "WD": 27.0,
                "PS": 1015.0,
                "CA_TOT": 3.0,
                "VS": 2000.0,
            }
            if month in broken_months:
                steady["TA"] = 80.0
            fields = {name: np.full(len(times), value) for name, value in steady.items()}
            body = format_typ01(fields, times, int(query["stn"][0])).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if trickle_s is None:
                self.wfile.write(body)
                return
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(trickle_s)
            except OSError:  # the client gave up
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True  # trickling handlers must not hold up shutdown
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/typ01/url/kma_sfctm3.php"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def moto_s3_server(cwd: Path) -> Iterator[str]:
    """moto's S3-compatible server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    log = (cwd / f"moto-{port}.log").open("w")
    process = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto_server did not start: {(cwd / log.name).read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


# --- memory and load (`make fuzz`, tests/e2e/test_service.py, benchmarks/service_limits.py) -----------


def server_processes(port: int) -> list[Any]:
    """Every process of the server listening on `port`: circusd (`bentoml serve` itself) and everything
    under it. Found by the listening socket, not by command lines (BentoML retitles its processes when
    setproctitle is installed), then up to circusd: the worker holding the socket runs in a session of its
    own, so neither its session nor its process group holds circusd."""
    import psutil  # noqa: PLC0415

    listening = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.pid and c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
    }
    if not listening:
        raise RuntimeError(f"nothing listens on port {port}")
    roots = set()
    for pid in listening:
        process = psutil.Process(pid)
        parent = process.parent()
        is_arbiter = parent is not None and (
            parent.name() == "circusd" or "bentoml" in " ".join(parent.cmdline())
        )
        roots.add(parent if is_arbiter else process)
    if len(roots) != 1:
        raise RuntimeError(f"port {port}: listening pids {listening} under {roots}")
    root = roots.pop()
    return [root, *root.children(recursive=True)]


def server_tree_rss(port: int) -> int:
    """Resident bytes of the whole server tree (what the pod's memory cgroup counts, near enough)."""
    import psutil  # noqa: PLC0415

    total = 0
    for process in server_processes(port):
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += process.memory_info().rss
    return total


def legal_request(hours: int = 168) -> dict[str, Any]:
    """The README's request with `hours` hourly observations up to its issue time (its 25 hours repeated
    further back): as large as one request may legally be at 168."""
    import datetime as dt  # noqa: PLC0415
    import json  # noqa: PLC0415

    example = json.loads((Path(__file__).parents[1] / "examples/predict_request.json").read_text())["request"]
    known = example["observations"]
    last = dt.datetime.fromisoformat(known[-1]["observed_at"])
    observations = []
    for i in range(hours):
        source = known[-1 - (i % len(known))]
        stamp = (last - dt.timedelta(hours=i)).isoformat()
        observations.append({**source, "observed_at": stamp})
    return {**example, "observations": observations[::-1]}


def max_legal_batch(count: int = 1000, hours: int = 168) -> bytes:
    """The largest batch the API accepts: 1,000 requests of 168 hours (75 MB as json.dumps writes it)."""
    import json  # noqa: PLC0415

    return json.dumps({"batch": {"requests": [legal_request(hours)] * count}}).encode()


# --- fuzzing (`make fuzz`, and a smaller budget in tests/e2e/test_service.py) ---------------------------

FUZZ_CONFIG = """
[checks.positive_data_acceptance]
# A request can fit the schema and still not be forecastable (hours after issue time, too few hours, a dew
# point above the temperature): the schema cannot say so, the service answers 400 naming the field.
# /forecast answers 503 when the KMA API cannot be used.
expected-statuses = ["2xx", "400", "503"]
"""


def memory_budget() -> int:
    """The server tree's memory budget: 75% of the pod's memory limit in deploy/base/deployment.yaml (the
    one place both are set), in bytes."""
    import yaml  # noqa: PLC0415

    manifest = yaml.safe_load((Path(__file__).parents[1] / "deploy/base/deployment.yaml").read_text())
    limit = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    units = {"Mi": 2**20, "Gi": 2**30}
    return int(float(limit[:-2]) * units[limit[-2:]] * 0.75)


class MemoryWatch:
    """The server tree's peak RSS, sampled every 20 ms in a thread while the block runs."""

    def __init__(self, port: int) -> None:
        import threading  # noqa: PLC0415

        self.port = port
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # between a worker's exit and its restart
                self.peak = max(self.peak, server_tree_rss(self.port))
            time.sleep(0.02)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def heavy_corpus(max_body_bytes: int) -> list[tuple[str, list[bytes]]]:
    """What took the old server past its pod's limit (issue 24), for `make fuzz` only (seconds of CPU and
    hundreds of MB each): (name, /predict_batch bodies sent at once)."""
    head = b'{"batch": {"requests": ['
    size = max_body_bytes - 64
    bomb = head + b"{}," * (size // 3) + b"{}]}}"
    zeros = head + b"0," * (size // 2) + b"0]}}"
    batch = max_legal_batch()
    return [
        ("bomb of empty objects under the cap", [bomb]),
        ("bomb of zeros under the cap", [zeros]),
        ("body of spaces at the cap", [b" " * (max_body_bytes - 2) + b"{}"]),
        ("4 largest legal batches at once", [batch] * 4),
        ("bomb and 2 largest legal batches at once", [bomb, batch, batch]),
    ]


def run_heavy(url: str, max_body_bytes: int) -> list[str]:
    """The heavy corpus: every answer a 200, 413 or 503 with Retry-After, in ErrorBody when an error."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from pydantic import ValidationError  # noqa: PLC0415

    from commute_weather.serving.api_models import ErrorBody  # noqa: PLC0415

    failures = []

    def post(body: bytes) -> httpx.Response:
        return httpx.post(f"{url}/predict_batch", content=body, headers={"content-type": "application/json"},
                          timeout=300)  # fmt: skip

    for name, bodies in heavy_corpus(max_body_bytes):
        with ThreadPoolExecutor(len(bodies)) as pool:
            try:
                answers = list(pool.map(post, bodies))
            except httpx.TransportError as exc:
                failures.append(f"{name}: {type(exc).__name__}")
                continue
        for answer in answers:
            print(f"heavy: {name}: {answer.status_code}")
            if answer.status_code >= 400:
                try:
                    ErrorBody.model_validate_json(answer.content, strict=True)
                except ValidationError:
                    failures.append(f"{name}: {answer.status_code} {answer.text[:200]}")
            if answer.status_code not in {200, 400, 413, 503}:
                failures.append(f"{name}: status {answer.status_code} {answer.text[:200]}")
            if answer.status_code == 503 and not answer.headers.get("retry-after"):
                failures.append(f"{name}: 503 without Retry-After")
    return failures


def nasty_corpus(max_body_bytes: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """Hand-made bodies schemathesis does not generate: (name, path, body, headers)."""
    import copy  # noqa: PLC0415
    import json  # noqa: PLC0415

    from commute_weather.serving.intake import SINGLE_BODY_BYTES  # noqa: PLC0415

    example = json.loads((Path(__file__).parents[1] / "examples/predict_request.json").read_text())
    request = example["request"]
    js = {"content-type": "application/json"}

    def predict(edit: Any) -> bytes:
        body = copy.deepcopy(request)
        edit(body)
        return json.dumps({"request": body}).encode()

    deep = b'{"request": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    text = json.dumps({"request": request})
    obs = "observations"
    return [
        ("empty body", "/predict", b"", js),
        ("whitespace body", "/predict", b"   ", js),
        ("not JSON", "/predict", b"{'request':", js),
        ("JSON null", "/predict", b"null", js),
        ("JSON array", "/predict", b"[]", js),
        ("deep nesting", "/predict", deep, js),
        ("NaN", "/predict", text.replace("15.9", "NaN", 1).encode(), js),
        ("Infinity", "/predict", text.replace("15.9", "-Infinity", 1).encode(), js),
        ("huge number", "/predict", text.replace("15.9", "1e400", 1).encode(), js),
        ("huge integer station", "/predict", predict(lambda r: r.update(station_id=10**40)), js),
        ("wrong types", "/predict", predict(lambda r: r.update(station_id=[1], window=3, date=True)), js),
        ("string numbers", "/predict", predict(lambda r: r[obs][0].update(temperature_c="hot")), js),
        ("future hours", "/predict", predict(lambda r: r.update(date="2024-06-14")), js),
        ("duplicate hours", "/predict", predict(lambda r: r[obs].insert(1, r[obs][0])), js),
        ("unknown station", "/predict", predict(lambda r: r.update(station_id=99999)), js),
        ("dew point above temperature", "/predict",
         predict(lambda r: r[obs][-1].update(dew_point_c=30.0, temperature_c=10.0)), js),
        ("year 1", "/predict", predict(lambda r: r.update(date="0001-01-01")), js),
        ("year 9999", "/predict", predict(lambda r: r.update(date="9999-12-31")), js),
        ("non-KST hours", "/predict",
         predict(lambda r: [o.update(observed_at=o["observed_at"][:-6] + "+08:00") for o in r[obs]]),
         js),
        ("empty batch", "/predict_batch", b'{"batch": {"requests": []}}', js),
        ("batch of 1001", "/predict_batch", json.dumps({"batch": {"requests": [request] * 1001}}).encode(),
         js),
        ("batch with one bad request", "/predict_batch",
         json.dumps({"batch": {"requests": [request, {**request, "window": "noon"}]}}).encode(), js),
        ("body at the cap", "/predict", b" " * (SINGLE_BODY_BYTES - 2) + b"{}", js),
        ("body over the cap", "/predict", b" " * (SINGLE_BODY_BYTES + 1), js),
        ("batch body over the cap", "/predict_batch", b" " * (max_body_bytes + 1), js),
        ("duplicate keys", "/predict", text.replace('"window"', '"window": 1, "window"', 1).encode(), js),
        ("station id as a string", "/predict", predict(lambda r: r.update(station_id="108")), js),
        ("station id as a boolean", "/forecast", b'{"station_id": true}', js),
        ("form body", "/predict", b"a=1", {"content-type": "application/x-www-form-urlencoded"}),
        ("no content type", "/predict", text.encode(), {}),
        ("forecast unknown station", "/forecast", b'{"station_id": -1}', js),
        ("forecast bad window", "/forecast", b'{"station_id": 131, "window": "noon"}', js),
        ("model with junk", "/model", b'{"x": 1}', js),
    ]  # fmt: skip


def run_fuzz(url: str, out_dir: Path, max_examples: int, seed: int, max_body_bytes: int) -> dict[str, Any]:
    """Schemathesis with every check against a served API, then the nasty corpus. Returns the table:
    requests and status counts per endpoint, server errors, conformance failures, schemathesis' verdict."""
    import json  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from pydantic import ValidationError  # noqa: PLC0415

    from commute_weather.serving.api_models import ErrorBody  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "schemathesis.toml"
    config.write_text(FUZZ_CONFIG)
    har = out_dir / "fuzz.har"
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(schemathesis), "--config-file", str(config), "run", f"{url}/docs.json", "--checks", "all",
         "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "2",
         "--generation-database", "none", "--request-timeout", "60", "--report", "har",
         "--report-har-path", str(har), "--continue-on-failure"],
        cwd=out_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    (out_dir / "schemathesis.log").write_text(result.stdout + result.stderr)
    statuses: dict[str, Counter[int]] = {}
    for entry in json.loads(har.read_text())["log"]["entries"]:
        path = entry["request"]["url"].removeprefix(url).split("?")[0]
        endpoint = f"{entry['request']['method']} {path}"
        statuses.setdefault(endpoint, Counter())[entry["response"]["status"]] += 1
    corpus: dict[str, Counter[int]] = {}
    nonconforming: list[str] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for name, path, body, headers in nasty_corpus(max_body_bytes):
            try:
                response = client.post(path, content=body, headers=headers)
            except httpx.TransportError as exc:
                nonconforming.append(f"{name}: {type(exc).__name__}")
                continue
            corpus.setdefault(f"POST {path} (corpus)", Counter())[response.status_code] += 1
            if response.status_code >= 400:
                try:
                    ErrorBody.model_validate_json(response.content, strict=True)
                except ValidationError:
                    nonconforming.append(f"{name}: {response.status_code} {response.text[:200]}")
            if response.status_code >= 500 and path != "/forecast":
                nonconforming.append(f"{name}: server error {response.status_code} {response.text[:200]}")
    everything = statuses | corpus
    summary = re.search(r"=+ SUMMARY =+\n(.*)", result.stdout, re.DOTALL)
    return {
        "schemathesis_exit": result.returncode,
        "schemathesis_summary": summary.group(1).strip() if summary else result.stdout[-3000:],
        "endpoints": {k: dict(sorted(v.items())) for k, v in sorted((statuses | corpus).items())},
        "requests": sum(sum(v.values()) for v in statuses.values()),
        "corpus_requests": sum(sum(v.values()) for v in corpus.values()),
        "server_errors": sum(n for v in everything.values() for s, n in v.items() if s >= 500 and s != 503),
        "corpus_failures": nonconforming,
    }


def print_table(table: dict[str, Any]) -> None:
    print(f"{'endpoint':<34} {'requests':>8}  statuses")
    probes: Counter[int] = (
        Counter()
    )  # schemathesis' unsupported_method check, one request per method and path
    rows = {}
    for endpoint, counts in table["endpoints"].items():
        if endpoint.split()[0] in {"POST", "GET"}:
            rows[endpoint] = counts
        else:
            probes.update(counts)
    rows["other methods (all paths)"] = dict(probes)
    for endpoint, counts in rows.items():
        print(
            f"{endpoint:<34} {sum(counts.values()):>8}  {', '.join(f'{s}: {n}' for s, n in counts.items())}"
        )
    print(f"schemathesis requests: {table['requests']}, corpus requests: {table['corpus_requests']}, "
          f"server errors (5xx other than 503): {table['server_errors']}")  # fmt: skip
    print(f"corpus failures: {table['corpus_failures'] or 0}")
    print(f"schemathesis exit {table['schemathesis_exit']}:\n{table['schemathesis_summary']}")


def main() -> None:
    """`make fuzz`: serve the packaged model (and a KMA stand-in) on loopback and fuzz it."""
    import argparse  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--max-examples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--min-requests", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="fuzz-")))
    parser.add_argument("--no-heavy", action="store_true", help="skip the bombs and largest batches")
    args = parser.parse_args()
    from commute_weather.serving.intake import BATCH_BODY_BYTES  # noqa: PLC0415

    cap = BATCH_BODY_BYTES  # the production default: the service's own, not a test setting
    budget = memory_budget()
    env = {"KMA_AUTH_KEY": "fuzz-key", "COMMUTE_WEATHER_NOW": "2024-06-15T05:30:00+09:00"}
    with fake_kma_api() as kma:
        env["KMA_API_URL"] = kma
        port = free_port()
        command = ["bentoml", "serve", "commute_weather.serving.service:CommuteComfort",
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with (
            http_server(command, port, Path.cwd(), env, log_dir=args.out) as url,
            MemoryWatch(port) as memory,
        ):
            table = run_fuzz(url, args.out, args.max_examples, args.seed, cap)
            heavy = [] if args.no_heavy else run_heavy(url, cap)
    print_table(table)
    print(f"heavy corpus failures: {heavy or 0}")
    print(f"server tree peak RSS {memory.peak / 2**20:,.0f} MiB; budget {budget / 2**20:,.0f} MiB "
          "(75% of the pod's memory limit in deploy/base/deployment.yaml)")  # fmt: skip
    print(f"reports in {args.out}")
    failed = (
        table["schemathesis_exit"] != 0
        or table["server_errors"] > 0
        or table["corpus_failures"]
        or heavy
        or memory.peak > budget
        or table["requests"] < args.min_requests
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
