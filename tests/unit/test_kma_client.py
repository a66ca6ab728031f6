"""The API client against a real HTTP server on 127.0.0.1 that plays the KMA API Hub's failure shapes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from commute_weather.sources.kma.client import (
    KmaClient,
    MissingAuthKeyError,
    auth_key_from_env,
    raw_month_path,
    sync_months,
)
from commute_weather.sources.kma.errors import KmaApiError
from commute_weather.sources.synthetic import generate

SECRET = "test-key-0123456789abcdef"
MONTH = "2024-01"


def month_body(station: int) -> str:
    return next(generate((station,), MONTH, MONTH, seed=3)).text


class Api:
    """Scripted answers per station: a list of (status, body, delay) consumed one request at a time."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, str, float]]] = {}
        self.requests: list[dict[str, list[str]]] = []


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            state.requests.append(query)
            status, body, delay = state.script[query["stn"][0]].pop(0)
            time.sleep(delay)
            data = (f"<html>no route for {self.path}</html>" if body == "__ECHO__" else body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # the client gave up waiting
                self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/api/typ01/url/kma_sfctm3.php"
    server.shutdown()
    server.server_close()


def client(url: str, attempts: int = 3, timeout: float = 2.0) -> KmaClient:
    return KmaClient(SECRET, url, timeout_s=timeout, max_attempts=attempts, backoff_s=0.01)


def test_valid_month_is_written_and_not_fetched_again(api: tuple[Api, str], tmp_path: Path) -> None:
    state, url = api
    state.script["108"] = [(200, month_body(108), 0.0)]
    paths = sync_months(client(url), tmp_path, [108], [MONTH])
    assert paths == [raw_month_path(tmp_path, 108, MONTH)]
    assert paths[0].read_text(encoding="cp949") == month_body(108)
    assert state.requests[0]["tm1"] == ["202401010000"]
    assert state.requests[0]["tm2"] == ["202401312300"]
    sync_months(client(url), tmp_path, [108], [MONTH])  # complete: no second request
    assert len(state.requests) == 1


def test_json_403_is_final_and_names_station_and_month(api: tuple[Api, str], tmp_path: Path) -> None:
    state, url = api
    state.script["108"] = [(403, '{"result":{"status":403,"message":"Unauthorized API"}}', 0.0)]
    with pytest.raises(
        KmaApiError, match=r"station 108 month 2024-01.*status 403: Unauthorized API"
    ) as error:
        sync_months(client(url), tmp_path, [108], [MONTH])
    assert len(state.requests) == 1  # not retried
    assert SECRET not in str(error.value)
    assert not any(tmp_path.rglob("*.txt"))


def test_500s_then_success_is_retried(api: tuple[Api, str], tmp_path: Path) -> None:
    state, url = api
    state.script["112"] = [(500, "oops", 0.0), (502, "", 0.0), (200, month_body(112), 0.0)]
    sync_months(client(url), tmp_path, [112], [MONTH])
    assert len(state.requests) == 3
    assert raw_month_path(tmp_path, 112, MONTH).exists()


def test_truncated_body_is_retried_then_reported_and_nothing_is_left(
    api: tuple[Api, str], tmp_path: Path
) -> None:
    state, url = api
    truncated = month_body(108)[:5000]
    state.script["108"] = [(200, truncated, 0.0)] * 2
    with pytest.raises(KmaApiError, match=r"gave up after 2 attempts: .*truncated"):
        sync_months(client(url, attempts=2), tmp_path, [108], [MONTH])
    assert list(tmp_path.rglob("*")) == []


def test_slow_answer_times_out_then_succeeds(api: tuple[Api, str], tmp_path: Path) -> None:
    state, url = api
    state.script["119"] = [(200, month_body(119), 1.5), (200, month_body(119), 0.0)]
    sync_months(client(url, timeout=0.5), tmp_path, [119], [MONTH])
    assert len(state.requests) == 2


def test_a_partial_file_from_an_earlier_crash_is_fetched_again(api: tuple[Api, str], tmp_path: Path) -> None:
    state, url = api
    path = raw_month_path(tmp_path, 108, MONTH)
    path.parent.mkdir(parents=True)
    path.write_text(month_body(108)[:3000])
    state.script["108"] = [(200, month_body(108), 0.0)]
    sync_months(client(url), tmp_path, [108], [MONTH])
    assert path.read_text(encoding="cp949") == month_body(108)


def test_the_key_never_reaches_logs_errors_or_files(
    api: tuple[Api, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = api
    state.script["108"] = [(200, month_body(108), 0.0)]
    state.script["112"] = [(500, f"echo {SECRET}", 0.0)] * 2
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KmaApiError) as error:
        sync_months(client(url, attempts=2), tmp_path, [108, 112], [MONTH])
    assert state.requests[0]["authKey"] == [SECRET]  # it was sent...
    assert SECRET not in caplog.text  # ...but never logged
    assert SECRET not in str(error.value)
    assert error.value.__cause__ is None  # raised "from None": no httpx exception (with its URL) attached
    assert error.value.__suppress_context__
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(encoding="cp949")


def test_missing_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMA_AUTH_KEY", raising=False)
    with pytest.raises(MissingAuthKeyError, match="KMA_AUTH_KEY is not set"):
        auth_key_from_env()


@pytest.mark.parametrize("key", ["a+b/c=d==", "k3y+with/slash=and+plus==", "space y+key/="])
def test_the_key_is_redacted_in_every_encoding_an_upstream_may_echo(
    api: tuple[Api, str], tmp_path: Path, key: str
) -> None:
    """An upstream that echoes the request URL sends the key percent-encoded, as httpx sent it."""
    state, url = api
    from urllib.parse import quote, quote_plus  # noqa: PLC0415

    from commute_weather.sources.kma.client import redact  # noqa: PLC0415

    forms = {key, quote(key, safe=""), quote(key), quote_plus(key), quote(key, safe="").lower()}
    for form in forms:
        assert "***" in redact(f"GET /x?authKey={form}&stn=108", key), form
        assert form not in redact(f"GET /x?authKey={form}&stn=108", key), form

    keyed = KmaClient(key, url, timeout_s=2, max_attempts=1, backoff_s=0.01)
    # The stand-in answers with the request line it saw, as some gateways do in their error pages.
    state.script["108"] = [(200, "__ECHO__", 0.0)]
    with pytest.raises(Exception) as error:  # noqa: PT011  (a format error: what matters is its text)
        sync_months(keyed, tmp_path, [108], [MONTH])
    sent = state.requests[-1]["authKey"][0]
    assert sent == key  # the server decoded it: it was sent encoded
    assert "authKey=***" in str(error.value), str(error.value)
    for form in forms:
        assert form not in str(error.value)


def test_a_trickling_answer_stops_at_the_overall_deadline(tmp_path: Path) -> None:
    """Each read gets a byte before the read timeout, so only an overall deadline ends the fetch."""
    from commute_weather.sources.kma.client import KmaDeadlineError  # noqa: PLC0415
    from tests.servers import fake_kma_api  # noqa: PLC0415

    with fake_kma_api(trickle_s=0.2) as url:
        slow = KmaClient(SECRET, url, timeout_s=1, max_attempts=3, backoff_s=0.1, deadline_s=1.5)
        started = time.monotonic()
        with pytest.raises(KmaDeadlineError, match=r"within the 1\.5 s deadline"):
            sync_months(slow, tmp_path, [108], [MONTH])
        assert time.monotonic() - started < 3
