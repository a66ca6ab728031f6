from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

# Two test workers on two cores: OpenMP threads on top of them only wait for each other (a boosting fit of
# seconds takes a minute). Set before scikit-learn loads, and inherited by the pipelines and servers the
# end-to-end tests start. The models are the same on any number of threads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from commute_weather.config import PipelineParams, load_params
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize
from commute_weather.sources.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
# Real KMA data the tests read, all inside the repository: the typ01 excerpts (test fixtures) and the
# embedded Cheongju record (the pipeline's real dataset).
TYP01_EXCERPTS = REPO / "tests" / "fixtures" / "kma"
CHEONGJU = REPO / "data" / "external" / "cheongju"


@pytest.fixture(scope="session")
def params() -> PipelineParams:
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def samples() -> Path:
    return TYP01_EXCERPTS


def synthetic_observations(stations: tuple[int, ...], start: str, end: str, seed: int = 7) -> pd.DataFrame:
    files = generate(stations, start, end, seed)
    return normalize(
        pd.concat([parse_typ01(f.text, f"{f.station_id}/{f.month}") for f in files], ignore_index=True)
    )


@pytest.fixture(scope="session")
def two_months() -> pd.DataFrame:
    """Two winter-to-spring months at two stations: fast, with snow, rain and missing hours."""
    return synthetic_observations((108, 112), "2021-02", "2021-03")
