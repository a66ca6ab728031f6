"""Start and stop real servers on 127.0.0.1 for tests."""

from __future__ import annotations

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


# --- fuzzing (`make fuzz`, and a smaller budget in tests/e2e/test_service.py) ---------------------------

FUZZ_CONFIG = """
[checks.positive_data_acceptance]
# A request can fit the schema and still not be forecastable (hours after issue time, too few hours, a dew
# point above the temperature): the schema cannot say so, the service answers 400 naming the field.
# /forecast answers 503 when the KMA API cannot be used.
expected-statuses = ["2xx", "400", "503"]
"""


def nasty_corpus(max_body_bytes: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """Hand-made bodies schemathesis does not generate: (name, path, body, headers)."""
    import copy  # noqa: PLC0415
    import json  # noqa: PLC0415

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
        ("body at the cap", "/predict", b" " * (max_body_bytes - 2) + b"{}", js),
        ("body over the cap", "/predict", b" " * (max_body_bytes + 1), js),
        ("form body", "/predict", b"a=1", {"content-type": "application/x-www-form-urlencoded"}),
        ("no content type", "/predict", text.encode(), {}),
        ("forecast unknown station", "/forecast", b'{"station_id": -1}', js),
        ("forecast bad window", "/forecast", b'{"station_id": 108, "window": "noon"}', js),
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
    args = parser.parse_args()
    cap = 4 * 2**20
    env = {"KMA_AUTH_KEY": "fuzz-key", "COMMUTE_MAX_BODY_BYTES": str(cap),
           "COMMUTE_WEATHER_NOW": "2024-06-15T05:30:00+09:00"}  # fmt: skip
    with fake_kma_api() as kma:
        env["KMA_API_URL"] = kma
        port = free_port()
        command = ["bentoml", "serve", "commute_weather.serving.service:CommuteComfort",
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with http_server(command, port, Path.cwd(), env, log_dir=args.out) as url:
            table = run_fuzz(url, args.out, args.max_examples, args.seed, cap)
    print_table(table)
    print(f"reports in {args.out}")
    failed = (
        table["schemathesis_exit"] != 0
        or table["server_errors"] > 0
        or table["corpus_failures"]
        or table["requests"] < args.min_requests
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
