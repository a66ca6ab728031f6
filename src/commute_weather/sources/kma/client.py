"""KMA API Hub client for `kma_sfctm3` (hourly surface observations over a time range).

- The key comes from the environment (`KMA_AUTH_KEY`) only. It travels in the query string, as the API
  requires, so no URL is ever put in a message or a log: errors name station, month and status instead,
  httpx's own request logging is silenced, and exceptions from httpx are not chained into ours.
- Timeouts, connection errors, 5xx answers and truncated bodies are retried with exponential backoff;
  a JSON error (bad or unsubscribed key) or another 4xx is final and raised at once.
- `deadline_s` bounds a whole fetch (connect, every read, retries and backoff): httpx's timeout is per
  read, so an endpoint that trickles bytes would otherwise hold the caller indefinitely.
- The key is redacted from every message in each encoding it can travel in (percent-encoded, `+` for
  space, lower- or upper-case hex), since an upstream may echo the request URL.
- `sync_months` writes each month atomically and skips months already complete on disk.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pandas as pd
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import stop_base

from commute_weather import io
from commute_weather.clock import KST
from commute_weather.sources.kma.errors import (
    KmaApiError,
    KmaFormatError,
    KmaTruncatedError,
    MissingAuthKeyError,
)
from commute_weather.sources.kma.typ01 import check_body, read_rows

AUTH_KEY_ENV = "KMA_AUTH_KEY"
BASE_URL_ENV = "KMA_API_URL"  # another endpoint than params' (a mirror, or a test server)
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class _TransientError(Exception):
    """A failure worth retrying; carries a message that is safe to show."""


class KmaDeadlineError(KmaApiError):
    """The whole fetch (all attempts) did not finish within its deadline."""


def auth_key_from_env() -> str:
    key = os.environ.get(AUTH_KEY_ENV, "").strip()
    if not key:
        raise MissingAuthKeyError(
            f"{AUTH_KEY_ENV} is not set. Export your KMA API Hub key (apihub.kma.go.kr, subscribed to "
            f"'kma_sfctm3') as {AUTH_KEY_ENV}, or use datasets whose source is 'sample' or 'csv' in "
            "params.yaml."
        )
    return key


def _encodings(secret: str) -> list[str]:
    """The key as it may appear in a URL or a message: raw, percent-encoded (also `/` and with lower-case
    hex), form-encoded (`+` for space); longest first, so that no encoding is left half-replaced."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")}
    forms |= {_lower_hex(f) for f in forms}
    forms |= {str(httpx.QueryParams({"k": secret}))[2:]}  # exactly what httpx sends
    return sorted(forms, key=len, reverse=True)


def _lower_hex(text: str) -> str:
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def redact(text: str, secret: str) -> str:
    """`text` with the key replaced by *** in every encoding it may travel in."""
    if not secret:
        return text
    for form in _encodings(secret):
        text = text.replace(form, "***")
    return text


@dataclass(frozen=True)
class KmaClient:
    auth_key: str
    base_url: str
    timeout_s: float
    max_attempts: int
    backoff_s: float
    transport: httpx.BaseTransport | None = None
    deadline_s: float | None = None  # for the whole fetch, retries included; None: per-read timeouts only

    def fetch_range(self, station_id: int, start: pd.Timestamp, end: pd.Timestamp, what: str) -> str:
        """A complete typ01 body for one station between two KST times (inclusive); `what` names the
        request in messages (e.g. 'station 108 month 2024-01')."""
        params = {
            "tm1": start.strftime("%Y%m%d%H%M"),
            "tm2": end.strftime("%Y%m%d%H%M"),
            "stn": str(station_id),
            "help": "0",
            "authKey": self.auth_key,
        }
        deadline = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.deadline_s is not None:
            stop = stop | stop_after_delay(self.deadline_s)
        retrying = Retrying(
            stop=stop,
            wait=wait_exponential(multiplier=self.backoff_s, max=60),
            retry=retry_if_exception_type(_TransientError),
            reraise=True,
        )
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as http:
            try:
                for attempt in retrying:
                    with attempt:
                        return self._get_once(http, params, what, deadline)
            except _TransientError as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise KmaDeadlineError(
                        f"{what}: no complete answer within the {self.deadline_s:g} s deadline ({exc})"
                    ) from None
                raise KmaApiError(f"{what}: gave up after {self.max_attempts} attempts: {exc}") from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _read(self, http: httpx.Client, params: dict[str, str], deadline: float | None) -> tuple[int, bytes]:
        """One GET whose body is read in chunks, so that the deadline is checked while bytes trickle."""
        timeout = self.timeout_s
        if deadline is not None:
            timeout = min(timeout, max(deadline - time.monotonic(), 0.001))
        with http.stream("GET", self.base_url, params=params, timeout=timeout) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if deadline is not None and time.monotonic() > deadline:
                    raise _TransientError(f"the answer was still arriving after {self.deadline_s:g} s")
            return response.status_code, b"".join(chunks)

    def _get_once(self, http: httpx.Client, params: dict[str, str], what: str, deadline: float | None) -> str:
        try:
            status, content = self._read(http, params, deadline)
        except httpx.TimeoutException:
            raise _TransientError(f"no answer within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _TransientError(f"connection failed ({type(exc).__name__})") from None
        body = content.decode("cp949", errors="replace")
        if status >= 500:
            raise _TransientError(f"HTTP {status}")
        try:
            check_body(body, what)
        except KmaTruncatedError as exc:
            raise _TransientError(redact(str(exc), self.auth_key)) from None
        except (KmaApiError, KmaFormatError) as exc:
            raise type(exc)(f"HTTP {status}: {redact(str(exc), self.auth_key)}") from None
        if status >= 400:
            raise KmaApiError(f"{what}: HTTP {status}")
        return body


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    period = pd.Period(month, "M")
    start = period.start_time.tz_localize(KST)
    return start, (period.end_time.floor("h")).tz_localize(KST)


def raw_month_path(raw_dir: Path, station_id: int, month: str) -> Path:
    return raw_dir / str(station_id) / f"{month}.txt"


def is_complete(path: Path, month: str) -> bool:
    """A stored month is complete when its body is a valid typ01 response reaching the month's last hour.
    A station that lost that hour is fetched again each run: one request, and never a stale month."""
    if not path.exists():
        return False
    text = path.read_text(encoding="cp949", errors="replace")
    try:
        check_body(text, str(path))
        rows = read_rows(text, str(path))
    except (KmaFormatError, KmaApiError):
        return False
    _, last_hour = month_bounds(month)
    return len(rows) > 0 and str(rows["TM"].iloc[-1]) >= last_hour.strftime("%Y%m%d%H%M")


def sync_months(
    client: KmaClient,
    raw_dir: Path,
    stations: Iterable[int],
    months: list[str],
    on_month: Callable[[str], None] = lambda _: None,
) -> list[Path]:
    """Fetch every station-month not yet complete under raw_dir; returns all month paths in order."""
    paths = []
    for station_id in stations:
        for month in months:
            path = raw_month_path(raw_dir, station_id, month)
            if not is_complete(path, month):
                start, end = month_bounds(month)
                body = client.fetch_range(station_id, start, end, f"station {station_id} month {month}")
                io.write_bytes(path, body.encode("cp949", errors="replace"))
            paths.append(path)
            on_month(f"{station_id} {month}")
    return paths
