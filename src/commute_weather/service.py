"""The model service (BentoML 1.4): the gate-approved model from the model store, features computed by the
pipeline's own code. `make serve` runs it; `make package` builds it into a bento versioned by Git SHA."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any

import bentoml
import pandas as pd
from bentoml.exceptions import BadInput
from starlette.responses import JSONResponse

from commute_weather.api_models import MAX_BATCH, BatchRequest, Forecast, ForecastRequest, ModelCard
from commute_weather.batching import Batcher
from commute_weather.config import Window
from commute_weather.kma.client import AUTH_KEY_ENV, KmaClient
from commute_weather.kma.endpoints import DEFAULT_BASE_URL
from commute_weather.kma.errors import KmaApiError, KmaFormatError
from commute_weather.kma.records import KST
from commute_weather.packaging import MODEL_FILE, MODEL_NAME
from commute_weather.predictor import Predictor
from commute_weather.serving import (
    RequestError,
    check_requests,
    forecast,
    forecast_checked,
    live_request,
    warmup_request,
)
from commute_weather.stations import KNOWN_STATIONS

BATCH_SIZE = bentoml.metrics.Histogram(
    name="forecast_batch_size",
    documentation="Forecasts per model call: requests that arrived together share one call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)
KMA_URL_ENV = "KMA_API_URL"  # another endpoint for the live forecast (a mirror, or a test server)


def unavailable(message: str) -> Any:
    """A 503 whose message reaches the client: BentoML replaces the text of 5xx exceptions with a generic
    one, which would hide what the operator has to set. The message never holds a secret."""
    return JSONResponse({"error": message}, status_code=503)


@bentoml.service(name="commute_comfort", traffic={"timeout": 30})
class CommuteComfort:
    bento_model = bentoml.models.BentoModel(f"{MODEL_NAME}:latest")

    def __init__(self) -> None:
        stored: Any = self.bento_model  # BentoML hands the service the resolved model from the store
        self.metadata: dict[str, Any] = dict(stored.info.metadata)
        self.tag = str(stored.tag)
        self.version = str(stored.tag.version)  # the Git SHA the model was packaged at
        with open(stored.path_of(MODEL_FILE), "rb") as handle:
            self.predictor = Predictor.from_artifacts(handle.read(), self.metadata)
        self.batcher = Batcher(self._forecast_checked, MAX_BATCH, on_call=BATCH_SIZE.observe)
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
        return ModelCard(tag=self.tag, **{name: self.metadata[name] for name in fields})

    @bentoml.api
    async def forecast(self, station_id: int, window: Window | None = None) -> Forecast:
        """Fetch the latest observations from the KMA API Hub and forecast the window now being issued."""
        if station_id not in KNOWN_STATIONS:
            raise BadInput(f"station_id: unknown KMA station {station_id}; known: {sorted(KNOWN_STATIONS)}")
        key = os.environ.get(AUTH_KEY_ENV, "").strip()
        if not key:
            return unavailable(f"live forecasts need {AUTH_KEY_ENV} set in the service's environment")
        client = KmaClient(key, os.environ.get(KMA_URL_ENV, DEFAULT_BASE_URL), timeout_s=10, max_attempts=2,
                           backoff_s=0.5)  # fmt: skip
        try:
            now = pd.Timestamp.now(tz=KST)
            request = await asyncio.to_thread(live_request, self.predictor, client, station_id, now)
        except RequestError as exc:
            raise BadInput(str(exc)) from None
        except (KmaApiError, KmaFormatError) as exc:
            return unavailable(f"the KMA API did not give usable data: {exc}")
        if window is not None and window != request.window:
            raise BadInput(f"window: the window being issued now is {request.window}, not {window}")
        return (await self._answer([request]))[0]


class JsonBodiesOnly:
    """Answer 415 to a POST whose body is not JSON, before BentoML tries to parse it as a form (which
    ends in a 500). Every API here takes JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
            if content_type and content_type != b"application/json":
                message = (
                    f"content-type {content_type.decode(errors='replace')!r} is not supported: send JSON"
                )
                await JSONResponse({"error": message}, status_code=415)(scope, receive, send)
                return
        await self.app(scope, receive, send)


CommuteComfort.add_asgi_middleware(JsonBodiesOnly)  # type: ignore[attr-defined]
