"""The comparison server: a minimal FastAPI app serving the same model through the same request models,
checks, feature code and prediction path as the BentoML service
(commute_weather.serving.handlers.forecast), and nothing else. `uvicorn benchmarks.fastapi_app:app` with
MODEL_DIR holding model.pkl and metadata.json."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from benchmarks.common import load_predictor
from commute_weather.serving.api_models import BatchRequest, Forecast, ForecastRequest
from commute_weather.serving.handlers import RequestError, forecast, warmup_request

model_dir = os.environ.get("MODEL_DIR")  # default: the served dataset's model
predictor = load_predictor(Path(model_dir) if model_dir else None)
forecast(predictor, [warmup_request(predictor)], "bench")  # as the BentoML service does at startup
app = FastAPI()


class PredictBody(BaseModel):  # the BentoML service's request shapes, so both get identical bytes
    request: ForecastRequest


class BatchBody(BaseModel):
    batch: BatchRequest


def answer(requests: list[ForecastRequest]) -> list[Forecast]:
    try:
        return forecast(predictor, requests, "bench")
    except RequestError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


@app.get("/readyz")
def readyz() -> str:
    return "ok"


@app.post("/predict")
def predict(body: PredictBody) -> Forecast:
    return answer([body.request])[0]


@app.post("/predict_batch")
def predict_batch(body: BatchBody) -> list[Forecast]:
    return answer(body.batch.requests)
