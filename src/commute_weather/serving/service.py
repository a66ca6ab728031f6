"""The model service (BentoML 1.4): the gate-approved model from the model store, features computed by the
pipeline's own code. `make serve` runs it; `make package` builds it into a bento versioned by Git SHA.

What keeps it up, whatever clients and the KMA API do:
- Model calls run in a thread of their own, KMA fetches in a small pool of their own with an overall
  deadline per fetch: a hanging upstream answers 504 (or 503 when every fetch slot is taken) and never
  delays `/predict`.
- A request body over the cap (COMMUTE_MAX_BODY_BYTES) is answered 413 before it is buffered.
- Every 4xx and 5xx has one body shape (api_models.ErrorBody), declared in the OpenAPI schema; a client
  error is logged as one line, without traceback or payload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import bentoml
import pandas as pd
from bentoml.exceptions import BadInput, BentoMLException
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from commute_weather.clock import KST
from commute_weather.config import DEFAULT_BASE_URL, Window
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.api_models import (
    MAX_BATCH,
    BatchRequest,
    ErrorBody,
    Forecast,
    ForecastRequest,
    LiveForecast,
    ModelCard,
    StationId,
)
from commute_weather.serving.batching import Batcher
from commute_weather.serving.handlers import (
    RequestError,
    check_requests,
    forecast,
    forecast_checked,
    live_request,
    next_window,
    warmup_request,
)
from commute_weather.serving.packaging import MODEL_FILE, MODEL_NAME
from commute_weather.sources.kma.client import AUTH_KEY_ENV, BASE_URL_ENV, KmaClient, KmaDeadlineError
from commute_weather.sources.kma.errors import KmaApiError, KmaFormatError
from commute_weather.stations import KNOWN_STATIONS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BATCH_SIZE = bentoml.metrics.Histogram(
    name="forecast_batch_size",
    documentation="Forecasts per model call: requests that arrived together share one call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)
KMA_URL_ENV = BASE_URL_ENV  # another endpoint for the live forecast (a mirror, or a test server)
KMA_DEADLINE_ENV = "KMA_DEADLINE_S"  # one live fetch, connect + reads + retries (default 12 s)
KMA_CONCURRENCY_ENV = "KMA_CONCURRENCY"  # live fetches at once per worker; more get 503 (default 2)
MAX_BODY_ENV = "COMMUTE_MAX_BODY_BYTES"  # request body cap (default 128 MiB; a full batch is 53-76 MB)
NOW_ENV = "COMMUTE_WEATHER_NOW"  # a fixed clock for /forecast (tests and demos), ISO 8601 with offset
DEFAULT_MAX_BODY = 128 * 2**20
TRAFFIC_TIMEOUT_S = 30


def env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    return float(text) if text else default


def error_response(status: int, message: str, fields: list[str] | None = None) -> JSONResponse:
    """The one error shape (api_models.ErrorBody)."""
    body = ErrorBody(error=message, fields=fields or []).model_dump()
    return JSONResponse(body, status_code=status)


def unavailable(status: int, message: str) -> Any:
    """A 503/504 an API returns instead of raising: BentoML replaces the text of 5xx exceptions with a
    generic one, which would hide what the operator has to set or what failed. Never holds a secret."""
    return error_response(status, message)


@bentoml.service(name="commute_comfort", traffic={"timeout": TRAFFIC_TIMEOUT_S})
class CommuteComfort:
    bento_model = bentoml.models.BentoModel(f"{MODEL_NAME}:latest")

    def __init__(self) -> None:
        logging.getLogger("bentoml._internal.server.http_app").addFilter(client_errors_in_one_line)
        stored: Any = self.bento_model  # BentoML hands the service the resolved model from the store
        self.metadata: dict[str, Any] = dict(stored.info.metadata)
        self.tag = str(stored.tag)
        self.version = str(stored.tag.version)  # the Git SHA the model was packaged at
        with open(stored.path_of(MODEL_FILE), "rb") as handle:
            artifact = handle.read()
        self.model_sha256 = hashlib.sha256(artifact).hexdigest()
        recorded = self.metadata.get("model_sha256")
        if recorded is not None and recorded != self.model_sha256:
            raise RuntimeError(
                f"{self.tag}: the model file's sha256 {self.model_sha256} is not the {recorded} recorded at "
                "packaging; the model store is corrupt: run `make package` again"
            )
        self.predictor = Predictor.from_artifacts(artifact, self.metadata)
        # Model calls and KMA fetches each get threads of their own: a hanging upstream can occupy its
        # own pool only, never the one /predict needs.
        self.model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.kma_slots = int(env_number(KMA_CONCURRENCY_ENV, 2))
        self.kma_pool = ThreadPoolExecutor(self.kma_slots, thread_name_prefix="kma")
        self.kma_busy = 0
        self.kma_deadline_s = env_number(KMA_DEADLINE_ENV, 12.0)
        self.batcher = Batcher(
            self._forecast_checked, MAX_BATCH, on_call=BATCH_SIZE.observe, executor=self.model_pool
        )
        forecast(self.predictor, [warmup_request(self.predictor)], self.version)  # ready means fast

    def _forecast_checked(self, checked: list[tuple[ForecastRequest, dt.datetime]]) -> list[Forecast]:
        requests, issues = [r for r, _ in checked], [i for _, i in checked]
        return forecast_checked(self.predictor, requests, issues, self.version)

    async def _answer(self, requests: list[ForecastRequest]) -> list[Forecast]:
        """Checked per caller first, so that one client's bad request never fails a shared batch."""
        try:
            issues = check_requests(self.predictor, requests)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
        return await self.batcher(list(zip(requests, issues, strict=True)))

    @bentoml.api
    async def predict(self, request: ForecastRequest) -> Forecast:
        """Comfort forecast for one station, date and window from the station's recent observations."""
        return (await self._answer([request]))[0]

    @bentoml.api
    async def predict_batch(self, batch: BatchRequest) -> list[Forecast]:
        """Many forecasts in one call (backfills, throughput): one model call for the whole batch."""
        return await self._answer(batch.requests)

    @bentoml.api
    def model(self) -> ModelCard:
        """The served model: version, metrics and the gate checks that approved it."""
        fields = ("git_sha", "model", "features", "train_rows", "metrics", "gate", "params")
        card = {name: self.metadata[name] for name in fields}
        return ModelCard(tag=self.tag, model_sha256=self.model_sha256, **card)

    def _fetch_done(self) -> None:
        self.kma_busy -= 1

    @bentoml.api
    async def forecast(self, station_id: StationId, window: Window | None = None) -> LiveForecast:
        """The next commute window (or the next `window`) for a station: its issue time and, once that has
        passed, the forecast from the latest observations fetched from the KMA API Hub."""
        if station_id not in KNOWN_STATIONS:
            raise BadInput(f"station_id: unknown KMA station {station_id}; known: {sorted(KNOWN_STATIONS)}")
        fixed = os.environ.get(NOW_ENV, "").strip()
        now = pd.Timestamp(fixed).tz_convert(KST) if fixed else pd.Timestamp.now(tz=KST)
        day, name, issue = next_window(self.predictor, now, window)
        pending = LiveForecast(
            station_id=station_id, date=day.date(), window=name, issue_at=issue, issued=False, forecast=None
        )
        if issue > now:
            return pending
        key = os.environ.get(AUTH_KEY_ENV, "").strip()
        if not key:
            return unavailable(503, f"live forecasts need {AUTH_KEY_ENV} set in the service's environment")
        if self.kma_busy >= self.kma_slots:
            return unavailable(503, f"{self.kma_busy} live fetches already in flight: retry in a few seconds")
        url, deadline = os.environ.get(KMA_URL_ENV, DEFAULT_BASE_URL), self.kma_deadline_s
        client = KmaClient(
            key, url, timeout_s=min(10, deadline), max_attempts=2, backoff_s=0.5, deadline_s=deadline
        )
        loop = asyncio.get_running_loop()
        self.kma_busy += 1  # until the thread is done, even when the caller stopped waiting for it
        fetch = self.kma_pool.submit(live_request, self.predictor, client, station_id, now, name)
        fetch.add_done_callback(lambda _: loop.call_soon_threadsafe(self._fetch_done))
        try:
            # The fetch stops itself at its deadline; this bound only guards against a stuck thread.
            request = await asyncio.wait_for(asyncio.wrap_future(fetch), self.kma_deadline_s + 2)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
        except (KmaDeadlineError, TimeoutError):
            return unavailable(504, f"the KMA API did not answer within {self.kma_deadline_s:g} s: try later")
        except (KmaApiError, KmaFormatError) as exc:
            return unavailable(503, f"the KMA API did not give usable data: {exc}")
        answer = (await self._answer([request]))[0]
        return pending.model_copy(update={"issued": True, "forecast": answer})


# --- logging ------------------------------------------------------------------------------------------


def client_errors_in_one_line(record: logging.LogRecord) -> bool:
    """BentoML logs every exception from an API, a client's bad input included, as an ERROR with the
    traceback (which holds the input). A client error becomes one INFO line: route, exception type, no
    payload. Server errors keep their traceback."""
    if not record.exc_info or record.exc_info[1] is None:
        return True
    exc = record.exc_info[1]
    if isinstance(exc, ValidationError):
        summary = f"{exc.error_count()} validation error(s)"
    elif isinstance(exc, BentoMLException) and exc.error_code.value < 500:
        summary = f"{type(exc).__name__} ({exc.error_code.value})"
    elif isinstance(exc, ClientDisconnect):
        summary = "client disconnected or body over the cap"
    else:
        return True
    record.msg = "client error on %s [%s]: %s"
    where = tuple(record.args)[:2] if isinstance(record.args, tuple) else ("?", "?")
    record.args = (*where, summary)
    record.exc_info, record.exc_text = None, None
    record.levelno, record.levelname = logging.INFO, "INFO"
    return True


# --- ASGI middleware ----------------------------------------------------------------------------------


def _path(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc)


_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]]*): ")


def canonical_error(status: int, body: bytes) -> dict[str, Any]:
    """Any error body BentoML, Starlette or this service produces, as an ErrorBody."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        payload = {"error": text if 0 < len(text) <= 500 else HTTPStatus(status).phrase}
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):  # BadInput: [{"error": ...}]
        payload = payload[0]
    if not isinstance(payload, dict):
        return ErrorBody(error=HTTPStatus(status).phrase).model_dump()
    detail = payload.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) and "loc" in d for d in detail):
        fields = [_path(d["loc"]) for d in detail]  # pydantic validation errors
        messages = [f"{_path(d['loc'])}: {d.get('msg', 'invalid')}" for d in detail[:10]]
        more = f"; and {len(detail) - 10} more" if len(detail) > 10 else ""
        return ErrorBody(error="; ".join(messages) + more, fields=fields).model_dump()
    message = str(payload.get("error") or HTTPStatus(status).phrase)
    given = payload.get("fields")
    if isinstance(given, list):
        fields = [str(f) for f in given]
    else:
        match = _FIELD_PREFIX.match(message)
        fields = [match.group(1)] if match else []
    return ErrorBody(error=message, fields=fields).model_dump()


ERROR_STATUSES = {
    400: "bad input: the message names the field",
    404: "no such route",
    413: "request body over the cap",
    415: "the body is not JSON",
    500: "server error (never the answer to bad input)",
    503: "live forecasts unavailable: no KMA key, the KMA API failed, or every fetch slot is busy",
    504: "the KMA API (or the model) did not answer in time",
}


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare ErrorBody as the answer to every error status of every API in the OpenAPI schema (BentoML
    declares a different shape, and not every status). Also state the OpenAPI version the schemas are
    written in: BentoML labels them 3.0.2, but pydantic writes JSON Schema 2020-12 (OpenAPI 3.1), where
    an optional field is `anyOf: [..., {"type": "null"}]`; read as 3.0, null would be declared invalid."""
    spec["openapi"] = "3.1.0"
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for item in spec.get("paths", {}).values():
        operation = item.get("post")
        if operation and "x-bentoml-name" in operation:
            _refer_to_components(operation, schemas)
            responses = {k: v for k, v in operation.get("responses", {}).items() if str(k).startswith("2")}
            for status, description in ERROR_STATUSES.items():
                responses[str(status)] = {"description": description, "content": reference}
            operation["responses"] = responses
    return spec


def _refer_to_components(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """BentoML inlines an API's input and output schemas and, doing so, drops the null branch of optional
    fields (an omitted `window` may be null; a pending forecast is null); its components keep them."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    name = f"{operation['x-bentoml-name']}__Input"
    if "schema" in body and name in schemas:
        body["schema"] = {"$ref": f"#/components/schemas/{name}"}
    ok = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    title = ok.get("schema", {}).get("title")
    if title in schemas:
        ok["schema"] = {"$ref": f"#/components/schemas/{title}"}


class OneErrorShape:
    """Rewrite every 4xx/5xx body into ErrorBody (BentoML answers validation errors, BadInput and routing
    errors in three shapes) and patch the OpenAPI schema to say so. Only error bodies are buffered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_spec = scope["path"] == "/docs.json"
        held: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] >= 400 or is_spec:
                    held = message
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status = held["status"]
                body = b"".join(chunks)
                if status >= 400:
                    data = json.dumps(canonical_error(status, body)).encode()
                else:
                    data = json.dumps(document_errors(json.loads(body))).encode()
                keep = [(k, v) for k, v in held.get("headers", []) if k.lower() not in _REPLACED]
                headers = [
                    *keep,
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ]
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": data})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


_REPLACED = {b"content-type", b"content-length", b"transfer-encoding"}


class BodyLimit:
    """Answer 413 to a body over the cap before it is buffered: at once when Content-Length says so, and
    as soon as the bytes received pass the cap for a body sent without a length (chunked)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.max_bytes = int(env_number(MAX_BODY_ENV, DEFAULT_MAX_BODY))

    def too_large(self) -> JSONResponse:
        return error_response(
            413, f"request body over the {self.max_bytes:,}-byte cap: send fewer requests per batch", ["body"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self.too_large()(scope, receive, send)
            return
        received = 0
        over = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading; its answer is replaced
            return message

        async def answer(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await self.too_large()(scope, receive, send)

        await self.app(scope, counted, answer)


class JsonBodiesOnly:
    """Answer 415 to a POST whose body is not JSON, before BentoML tries to parse it as a form (which
    ends in a 500). Every API here takes JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
            if content_type and content_type != b"application/json":
                message = (
                    f"content-type {content_type.decode(errors='replace')!r} is not supported: send JSON"
                )
                await error_response(415, message, ["content-type"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


# The first added is the outermost: the error shape sees every answer, the body cap comes before anything
# reads the body.
for _middleware in (OneErrorShape, BodyLimit, JsonBodiesOnly):
    CommuteComfort.add_asgi_middleware(_middleware)  # type: ignore[attr-defined]
