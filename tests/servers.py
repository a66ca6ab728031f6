"""Start and stop real servers on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
def fake_kma_api(trickle_s: float | None = None) -> Iterator[str]:
    """A stand-in for the KMA API Hub on 127.0.0.1: valid kma_sfctm3 bodies for any station and time range,
    with steady mild weather. Only the internet service itself cannot exist here. With `trickle_s`, it
    plays an upstream in trouble: it sends one byte of the body every `trickle_s` seconds."""
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415
    from urllib.parse import parse_qs, urlparse  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from commute_weather.kma.records import KST  # noqa: PLC0415
    from commute_weather.kma.typ01 import format_typ01  # noqa: PLC0415

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            times = pd.date_range(
                pd.Timestamp(query["tm1"][0]), pd.Timestamp(query["tm2"][0]), freq="h", tz=KST
            )
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

