"""KMA API Hub client for `kma_sfctm3` (hourly surface observations over a time range).

- The key comes from the environment (`KMA_AUTH_KEY`) only. It travels in the query string, as the API
  requires, so no URL is ever put in a message or a log: errors name station, month and status instead,
  httpx's own request logging is silenced, and exceptions from httpx are not chained into ours.
- Timeouts, connection errors, 5xx answers and truncated bodies are retried with exponential backoff;
  a JSON error (bad or unsubscribed key) or another 4xx is final and raised at once.
- `sync_months` writes each month atomically and skips months already complete on disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from commute_weather import io
from commute_weather.kma.errors import KmaApiError, KmaFormatError, KmaTruncatedError
from commute_weather.kma.records import KST
from commute_weather.kma.typ01 import check_body, read_rows

AUTH_KEY_ENV = "KMA_AUTH_KEY"
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class MissingAuthKeyError(RuntimeError):
    """No KMA API key in the environment."""


class _TransientError(Exception):
    """A failure worth retrying; carries a message that is safe to show."""


def auth_key_from_env() -> str:
    key = os.environ.get(AUTH_KEY_ENV, "").strip()
    if not key:
        raise MissingAuthKeyError(
            f"{AUTH_KEY_ENV} is not set. Export your KMA API Hub key (apihub.kma.go.kr, subscribed to "
            f"'kma_sfctm3') as {AUTH_KEY_ENV}, or set ingest.source to 'sample' or 'csv' in params.yaml."
        )
    return key


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


@dataclass(frozen=True)
class KmaClient:
    auth_key: str
    base_url: str
    timeout_s: float
    max_attempts: int
    backoff_s: float
    transport: httpx.BaseTransport | None = None

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
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=60),
            retry=retry_if_exception_type(_TransientError),
            reraise=True,
        )
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as http:
            try:
                for attempt in retrying:
                    with attempt:
                        return self._get_once(http, params, what)
            except _TransientError as exc:
                raise KmaApiError(f"{what}: gave up after {self.max_attempts} attempts: {exc}") from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _get_once(self, http: httpx.Client, params: dict[str, str], what: str) -> str:
        try:
            response = http.get(self.base_url, params=params)
        except httpx.TimeoutException:
            raise _TransientError(f"no answer within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _TransientError(f"connection failed ({type(exc).__name__})") from None
        body = response.content.decode("cp949", errors="replace")
        if response.status_code >= 500:
            raise _TransientError(f"HTTP {response.status_code}")
        try:
            check_body(body, what)
        except KmaTruncatedError as exc:
            raise _TransientError(redact(str(exc), self.auth_key)) from None
        except (KmaApiError, KmaFormatError) as exc:
            raise type(exc)(f"HTTP {response.status_code}: {redact(str(exc), self.auth_key)}") from None
        if response.status_code >= 400:
            raise KmaApiError(f"{what}: HTTP {response.status_code}")
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
