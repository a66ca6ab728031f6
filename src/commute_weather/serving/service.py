"""The model service (BentoML 1.4): the gate-approved model from the model store, features computed by the
pipeline's own code. `make serve` runs it; `make package` builds it into a bento versioned by Git SHA.

What keeps it up, whatever clients and the KMA API do:
- Model calls run in a thread of their own, KMA fetches in a small pool of their own with an overall
  deadline per fetch: a hanging upstream answers 504 (or 503 when every fetch slot is taken) and never
  delays `/predict`.
- Bodies are read and parsed by RequestGate, not BentoML: a byte cap and a JSON value budget per route
  (intake.py) checked as bytes arrive, a deadline for the upload (408), admission control on the body
  bytes in flight (503 with Retry-After when full), parsing and validation in a thread of its own, request
  by request for a batch. Memory follows from those limits, not from what a client sends.
- Every 4xx and 5xx has one body shape (api_models.ErrorBody), declared in the OpenAPI schema; a client
  error is logged as one line, without traceback or payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
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
    check_station,
    forecast,
    forecast_checked,
    live_request,
    next_window,
    station_cards,
    warmup_request,
)
from commute_weather.serving.intake import (
    BATCH_BODY_BYTES,
    BATCH_VALUES,
    BIG_BODY_BYTES,
    REQUEST_VALUES,
    SINGLE_BODY_BYTES,
    SMALL_BODY_BYTES,
    SMALL_VALUES,
    CollectorPause,
    IntakeError,
    Limits,
    ValueCounter,
    discard,
    parse_batch,
    parse_single,
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
MAX_BODY_ENV = "COMMUTE_MAX_BODY_BYTES"  # /predict_batch body cap (default 128 MiB; a full batch is 53-76 MB)
# Body bytes being read, parsed or answered at once per worker; a request that would pass it gets 503 with
# Retry-After (one request is always admitted alone). Memory per byte in flight is measured in
# BENCHMARKS.md; deploy/base/deployment.yaml sets this with the pod's memory limit.
INFLIGHT_ENV = "COMMUTE_INFLIGHT_BYTES"
BODY_TIMEOUT_ENV = "COMMUTE_BODY_TIMEOUT_S"  # the whole body must arrive within this (default 30 s): 408
NOW_ENV = "COMMUTE_WEATHER_NOW"  # a fixed clock for /forecast (tests and demos), ISO 8601 with offset
DEFAULT_MAX_BODY = BATCH_BODY_BYTES
DEFAULT_INFLIGHT = 64 * 2**20
DEFAULT_BODY_TIMEOUT_S = 30.0
# BentoML's own timeout counts from the first byte and answers 504 in a shape of its own; RequestGate
# answers in ErrorBody first (408 for the upload, 504 for the rest at ANSWER_DEADLINE_S), so BentoML's is
# only a backstop.
TRAFFIC_TIMEOUT_S = 75
ANSWER_DEADLINE_S = 70.0
RETRY_AFTER_S = 2
SWITCH_INTERVAL_S = 0.001
COLLECTOR_PAUSE_MAX_S = 60.0
MODEL_UNUSABLE_EXIT = 3  # `bentoml serve` exits with this when the packaged model cannot be served
log = logging.getLogger("bentoml.commute_comfort")  # BentoML's logging config prints "bentoml.*" at INFO


def env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    return float(text) if text else default


def error_response(
    status: int, message: str, fields: list[str] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape (api_models.ErrorBody)."""
    body = ErrorBody(error=message, fields=fields or []).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def unavailable(status: int, message: str) -> Any:
    """A 503/504 an API returns instead of raising: BentoML replaces the text of 5xx exceptions with a
    generic one, which would hide what the operator has to set or what failed. Never holds a secret."""
    return error_response(status, message)


def note_worker_start() -> Path:
    """Log one line when the worker before this one died without shutting down (SIGKILL, the OOM killer,
    a crash in native code): circus restarts it without a word. Each worker leaves a marker holding its pid
    while it runs (in the temporary directory, per `bentoml serve` process) and removes it on a clean
    shutdown; a marker left by a dead pid is a crash."""
    marker = Path(tempfile.gettempdir()) / f"commute-comfort-{os.getppid()}-worker.pid"
    with contextlib.suppress(OSError, ValueError):
        previous = int(marker.read_text())
        if previous != os.getpid() and not _alive(previous):
            log.error(
                "worker pid %d died without shutting down (killed by a signal or the OOM killer?); "
                "restarted as pid %d",
                previous,
                os.getpid(),
            )
    with contextlib.suppress(OSError):
        marker.write_text(str(os.getpid()))
    return marker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LoadedModel:
    metadata: dict[str, Any]
    tag: str
    version: str  # the Git SHA the model was packaged at
    model_sha256: str
    predictor: Predictor


def load_model(stored: Any) -> LoadedModel:
    """The packaged model, checked against the sha256 recorded at packaging, loaded and run once on a
    plausible request (the first real request should not pay for lazy imports; and a model this code
    cannot run fails here, not on a client's request)."""
    metadata: dict[str, Any] = dict(stored.info.metadata)
    with open(stored.path_of(MODEL_FILE), "rb") as handle:
        artifact = handle.read()
    digest = hashlib.sha256(artifact).hexdigest()
    recorded = metadata.get("model_sha256")
    if recorded is not None and recorded != digest:
        raise RuntimeError(
            f"{stored.tag}: the model file's sha256 {digest} is not the {recorded} recorded at packaging; "
            "the model store is corrupt: run `make package` again"
        )
    predictor = Predictor.from_artifacts(artifact, metadata)
    version = str(stored.tag.version)
    forecast(predictor, [warmup_request(predictor)], version)
    return LoadedModel(metadata, str(stored.tag), version, digest, predictor)


@bentoml.service(name="commute_comfort", traffic={"timeout": TRAFFIC_TIMEOUT_S})
class CommuteComfort:
    bento_model = bentoml.models.BentoModel(f"{MODEL_NAME}:latest")

    @bentoml.on_deployment
    def check_model() -> None:
        """Before any worker starts, in `bentoml serve`'s own process: a model that cannot be served
        (corrupt, swapped, or not loadable by this code) stops the server with one line and exit status 3,
        so that Kubernetes shows CrashLoopBackOff with that line (workers failing at start were restarted
        by circus forever, with a traceback each time and /readyz hanging)."""
        try:
            load_model(CommuteComfort.inner.bento_model.resolve())  # type: ignore[attr-defined]
        except Exception as exc:  # any reason at all: the line says which
            message = " ".join(f"{type(exc).__name__}: {exc}".split())
            print(f"commute_comfort: cannot serve the model: {message}", file=sys.stderr, flush=True)
            raise SystemExit(MODEL_UNUSABLE_EXIT) from None

    def __init__(self) -> None:
        logging.getLogger("bentoml._internal.server.http_app").addFilter(client_errors_in_one_line)
        self.alive_marker = note_worker_start()
        loaded = load_model(self.bento_model)  # BentoML hands the service the resolved model from the store
        self.metadata, self.tag, self.version = loaded.metadata, loaded.tag, loaded.version
        self.model_sha256, self.predictor = loaded.model_sha256, loaded.predictor
        # Model calls and KMA fetches each get threads of their own: a hanging upstream can occupy its
        # own pool only, never the one /predict needs.
        self.model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.check_pool = ThreadPoolExecutor(1, thread_name_prefix="check")
        self.kma_slots = int(env_number(KMA_CONCURRENCY_ENV, 2))
        self.kma_pool = ThreadPoolExecutor(self.kma_slots, thread_name_prefix="kma")
        self.kma_busy = 0
        self.kma_deadline_s = env_number(KMA_DEADLINE_ENV, 12.0)
        self.batcher = Batcher(
            self._forecast_checked, MAX_BATCH, on_call=BATCH_SIZE.observe, executor=self.model_pool
        )
        # The probes share the GIL with the threads that parse, check and forecast a batch. The event loop
        # waits up to the switch interval for the GIL each time it wakes (5 ms by default, several times per
        # request): 1 ms keeps /livez and /readyz fast while a batch is handled. What the worker holds now
        # (modules, the model) lives as long as it does: frozen, a garbage collection never walks it
        # again, so a collection during or after a batch is short.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc.freeze()

    @bentoml.on_shutdown
    def _clean_exit(self) -> None:
        self.alive_marker.unlink(missing_ok=True)

    def _forecast_checked(self, checked: list[tuple[ForecastRequest, dt.datetime]]) -> list[Forecast]:
        requests, issues = [r for r, _ in checked], [i for _, i in checked]
        return forecast_checked(self.predictor, requests, issues, self.version)

    async def _answer(self, requests: list[ForecastRequest]) -> list[Forecast]:
        """Checked per caller first, so that one client's bad request never fails a shared batch. A batch
        is checked in a thread of its own: 168,000 hours are a loop in Python, and on the event loop every
        probe would wait for it."""
        try:
            if len(requests) > 1:
                loop = asyncio.get_running_loop()
                issues = await loop.run_in_executor(self.check_pool, check_requests, self.predictor, requests)
            else:
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
        return ModelCard(
            tag=self.tag,
            model_sha256=self.model_sha256,
            stations=station_cards(self.predictor, self.metadata["metrics"]),
            unseen_stations=self.predictor.answers_unseen,
            **card,
        )

    def _fetch_done(self) -> None:
        self.kma_busy -= 1

    @bentoml.api
    async def forecast(self, station_id: StationId, window: Window | None = None) -> LiveForecast:
        """The next commute window (or the next `window`) for a station: its issue time and, once that has
        passed, the forecast from the latest observations fetched from the KMA API Hub."""
        if station_id not in KNOWN_STATIONS:
            raise BadInput(f"station_id: unknown KMA station {station_id}; known: {sorted(KNOWN_STATIONS)}")
        try:
            check_station(self.predictor, station_id)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
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
    408: "the body did not arrive in full within the upload deadline (COMMUTE_BODY_TIMEOUT_S)",
    413: "request body over the route's byte cap, or more JSON values than the largest legal input holds",
    415: "the body is not JSON",
    500: "server error (never the answer to bad input)",
    503: "busy (request bytes in flight at the budget; retry after Retry-After seconds), or live forecasts "
    "unavailable: no KMA key, the KMA API failed, or every fetch slot is busy",
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


class ClientGoneError(Exception):
    """The client closed the connection before its body arrived: nobody to answer, not a server error."""


CHECKED_INPUT = "commute_weather.checked_input"  # scope key: the input model RequestGate parsed


class RequestGate:
    """Read, count and parse the body of every API call before BentoML sees it (see the module docstring):
    413 over the route's byte cap or JSON value budget, 408 when the body is not complete within the
    upload deadline, 503 + Retry-After when the body bytes in flight would pass the budget, 400 naming the
    field for bad input, 504 in ErrorBody when the answer is not ready by ANSWER_DEADLINE_S. The parsed
    input goes to BentoML through the scope (`checked_input` below), so the body is parsed once, off the
    event loop. A client that goes away mid-body is logged in one line and not answered (no 5xx)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        batch_bytes = int(env_number(MAX_BODY_ENV, DEFAULT_MAX_BODY))
        self.routes: dict[str, tuple[Any, Limits]] = {}
        for name, method in CommuteComfort.apis.items():  # type: ignore[attr-defined]
            if name == "predict_batch":
                limits = Limits(batch_bytes, BATCH_VALUES, batch=True)
            elif name == "predict":
                limits = Limits(min(SINGLE_BODY_BYTES, batch_bytes), REQUEST_VALUES)
            else:
                limits = Limits(SMALL_BODY_BYTES, SMALL_VALUES)
            self.routes[method.route] = (method.input_spec, limits)
        self.budget = int(env_number(INFLIGHT_ENV, DEFAULT_INFLIGHT))
        self.body_timeout_s = env_number(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT_S)
        self.in_flight = 0
        self.large_in_flight = 0
        # A thread for large bodies, so that one body at most is being turned into objects at a time, and
        # one for small ones, so that a /predict never waits for a batch's parse.
        self.parser = ThreadPoolExecutor(1, thread_name_prefix="intake-large")
        self.small_parser = ThreadPoolExecutor(1, thread_name_prefix="intake-small")
        self.collector = CollectorPause(COLLECTOR_PAUSE_MAX_S)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        spec, limits = route
        length = dict(scope["headers"]).get(b"content-length")
        held = [0]  # body bytes this request holds against the budget
        started = asyncio.get_running_loop().time()
        big = paused = False
        try:
            if length is not None and (not length.isdigit() or int(length) > limits.max_bytes):
                raise self.too_large(limits)
            self.admit(held, int(length or 0))
            box = [await self.read(receive, limits, held)]
            big = len(box[0]) > BIG_BODY_BYTES
            paused = big and self.collector.hold()
            parse = parse_batch if limits.batch else parse_single
            # The parser empties the box: no reference here keeps the bytes alive once they are decoded.
            pool = self.parser if big else self.small_parser
            parsing = asyncio.get_running_loop().run_in_executor(pool, parse, box, spec)
            del box
            scope[CHECKED_INPUT] = await parsing
            del parsing  # it holds the parsed input too
        except IntakeError as exc:
            self.release(held, paused)
            log.info("client error on %s [%d]: %s", scope["path"], exc.status, exc.message.split(":")[0])
            headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else None
            await error_response(exc.status, exc.message, exc.fields, headers)(scope, receive, send)
            return
        except ClientGoneError:
            self.release(held, paused)
            log.info(
                "client went away on %s before its body arrived (not answered, not an error)", scope["path"]
            )
            return
        except Exception:  # a bug here: loud, and answered (uncaught, the client got no answer at all)
            self.release(held, paused)
            log.exception("intake failed on %s: 500", scope["path"])
            await error_response(500, "internal error reading the request")(scope, _no_body, send)
            return
        except BaseException:  # cancelled (shutdown): give back the bytes and the collector, then go on
            self.release(held, paused)
            raise
        try:
            await self.answer(scope, receive, send, started)
        finally:
            checked = [scope.pop(CHECKED_INPUT, None)]
            self.release(held)
            if big:
                # Freed in the parser's thread, request by request: dropping a batch's 168,000 objects at
                # once is one C call that holds the GIL for ~0.1 s wherever the last reference goes, and
                # here that is the event loop. The collector resumes once they are gone.
                self.parser.submit(discard, checked, self.collector if paused else None)
            del checked
            if big and self.large_in_flight == 0:
                # Later, once this frame and BentoML's (background tasks included) have let go of the input.
                loop = asyncio.get_running_loop()
                loop.call_later(1.0, self.parser.submit, release_memory, self.collector)

    def admit(self, held: list[int], size: int) -> None:
        """Hold `size` body bytes in all (more than `held[0]` so far), or 503 when the bytes in flight
        would pass the budget. A large body (over BIG_BODY_BYTES) is admitted past the budget when no other
        large one is in flight, so that small requests cannot starve the largest legal batch; small ones
        never pass it. Memory is then bounded by one body at the cap plus the budget."""
        if size <= held[0]:
            return
        others = self.in_flight - held[0]
        was_large = held[0] > BIG_BODY_BYTES
        other_large = self.large_in_flight - was_large
        if others + size > self.budget and (size <= BIG_BODY_BYTES or other_large > 0):
            raise IntakeError(
                503,
                f"busy: {others:,} body bytes already in flight (budget {self.budget:,}); "
                f"retry in {RETRY_AFTER_S} s",
            )
        self.in_flight += size - held[0]
        self.large_in_flight += (size > BIG_BODY_BYTES) - was_large
        held[0] = size

    def release(self, held: list[int], paused: bool = False) -> None:
        if paused:
            self.collector.release()
        self.in_flight -= held[0]
        self.large_in_flight -= held[0] > BIG_BODY_BYTES
        held[0] = 0

    def too_large(self, limits: Limits) -> IntakeError:
        advice = "send fewer requests per batch" if limits.batch else "send fewer or shorter values"
        return IntakeError(413, f"request body over the {limits.max_bytes:,}-byte cap: {advice}", ["body"])

    async def read(self, receive: Receive, limits: Limits, held: list[int]) -> bytearray:
        """The whole body, counted as it arrives, within the upload deadline. A body without a length
        (chunked) is admitted as it grows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        counter = ValueCounter(limits)
        body = bytearray()
        # A chunked body declares no length: `held` then starts at 0 (and was a ValueError from formatting
        # a text with `:,`, which left such a client without any answer).
        declared = f"{held[0]:,}" if held[0] else "an unknown number of"
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise IntakeError(
                    408,
                    f"body: incomplete after {self.body_timeout_s:g} s ({len(body):,} of {declared} bytes): "
                    f"send the whole body within {self.body_timeout_s:g} s, or smaller batches",
                    ["body"],
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientGoneError
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > limits.max_bytes:
                raise self.too_large(limits)
            counter.feed(chunk)
            body += chunk
            self.admit(held, len(body))
            if not message.get("more_body", False):
                return body

    async def answer(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """Run BentoML's handler on the parsed input; 504 in ErrorBody if it has not begun answering by
        ANSWER_DEADLINE_S after the request began."""
        responded = False

        consumed = False

        async def replay() -> Message:  # the body was read here; later reads see a disconnect
            nonlocal consumed
            if not consumed:
                consumed = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return await receive()

        async def sending(message: Message) -> None:
            nonlocal responded
            responded = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, replay, sending))
        remaining = started + ANSWER_DEADLINE_S - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait({task}, timeout=max(remaining, 0))
        if done or responded:
            await task
            return
        task.cancel()
        log.warning("no answer on %s within %g s: 504", scope["path"], ANSWER_DEADLINE_S)
        message = f"no answer within {ANSWER_DEADLINE_S:g} s: the server is overloaded, retry later"
        await error_response(504, message)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def release_memory(collector: CollectorPause) -> None:
    """After a large body: collect (cheap: the worker's startup objects are frozen; skipped while another
    large body's objects are alive), and give freed heap back to the OS (glibc keeps it otherwise, and the
    pod's cgroup would go on counting it)."""
    import ctypes  # noqa: PLC0415

    if not collector.held:
        gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def checked_input(cls: Any, request: Any, serde: Any) -> Any:
    """BentoML's input parsing for every API, replaced: the input RequestGate already parsed."""
    checked = request.scope.get(CHECKED_INPUT)
    if checked is None:  # RequestGate not in front (it always is): parse as BentoML would
        return await serde.parse_request(request, cls)
    return checked


for _method in CommuteComfort.apis.values():  # type: ignore[attr-defined]
    _method.input_spec.from_http_request = classmethod(checked_input)


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


# The first added is the outermost: the error shape sees every answer, the content type is checked before
# anything reads the body.
for _middleware in (OneErrorShape, JsonBodiesOnly, RequestGate):
    CommuteComfort.add_asgi_middleware(_middleware)  # type: ignore[attr-defined]
