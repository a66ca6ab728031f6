"""Typed view of params.yaml, loaded once at each CLI boundary.

Every stage receives the section it needs as a frozen pydantic object, so a typo in params.yaml fails at
load time with the key's path instead of deep inside a stage.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from commute_weather.errors import ConfigurationError
from commute_weather.stations import KNOWN_STATIONS

# Where the KMA API Hub serves hourly ASOS observations (typ01 text).
DEFAULT_BASE_URL = "https://apihub.kma.go.kr/api/typ01/url/kma_sfctm3.php"
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_month(value: str) -> str:
    if not MONTH_PATTERN.match(value):
        raise ValueError(f"expected YYYY-MM, got {value!r}")
    return value


def check_known_stations(value: tuple[int, ...]) -> tuple[int, ...]:
    unknown = sorted(set(value) - set(KNOWN_STATIONS))
    if unknown:
        raise ValueError(f"unknown KMA station ids {unknown}; known: {sorted(KNOWN_STATIONS)}")
    return value


# A dataset's and a live dataset's months and stations, checked the same way in both.
Month = Annotated[str, AfterValidator(check_month)]
KnownStations = Annotated[tuple[int, ...], Field(min_length=1), AfterValidator(check_known_stations)]

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# typ01: a folder of typ01 bodies as <station>/<YYYY-MM>.txt, the months `commute-weather retrain` fetched
# from the API and a reviewed pull request embedded (offline and key-free from then on).
Source = Literal["sample", "kma", "csv", "typ01"]


class DatasetParams(Params):
    """One named dataset: where its observations come from. Every dataset runs through every stage with its
    own outputs (dvc.yaml `foreach`), so adding one to params.yaml is all it takes."""

    source: Source
    real: bool  # real observations (the figures a reviewer trusts) or the synthetic sample
    stations: KnownStations
    start_month: Month
    end_month: Month
    # What ingest reads, and the stage's dependency in dvc.yaml: the folder of exports (csv), the generator
    # (sample) or the API client (kma).
    input: Path
    seed: int | None = None  # the sample generator's seed

    @field_validator("stations")
    @classmethod
    def _once_each(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("stations are listed more than once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetParams:
        if self.start_month > self.end_month:
            raise ValueError(f"start_month {self.start_month} is after end_month {self.end_month}")
        if self.source == "sample" and self.seed is None:
            raise ValueError("the sample source needs a seed")
        if self.source == "sample" and self.real:
            raise ValueError("the sample source is synthetic: set real: false")
        return self


class KmaParams(Params):
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = Field(gt=0)
    max_attempts: int = Field(ge=1, le=10)
    backoff_s: float = Field(ge=0)


Layout = Literal["portal", "api_csv"]


class IngestParams(Params):
    """Settings every dataset's ingest shares."""

    kma: KmaParams
    # Where two file layouts give the same station and hour, the earlier one's row is kept (merge.py).
    precedence: tuple[Layout, ...] = Field(min_length=1)

    @field_validator("precedence")
    @classmethod
    def _once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a layout is listed more than once")
        return value


class QualityParams(Params):
    """Tolerances of the cross-field and temporal checks (contracts/quality.py); params.yaml says which
    measurement on clean portal exports justifies each."""

    humidity_tolerance_pct: float = Field(gt=0)
    temperature_spike_c: float = Field(gt=0)
    pressure_spike_hpa: float = Field(gt=0)
    sea_level_tolerance_hpa: float = Field(gt=0)


class ValidateParams(Params):
    min_month_completeness: float = Field(ge=0, le=1)
    max_examples: int = Field(ge=1)
    # validate fails when a station-month's quarantined share of hours passes this
    max_quarantined_share: float = Field(ge=0, le=1)
    quality: QualityParams


class WindowHours(Params):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)

    @model_validator(mode="after")
    def _ordered(self) -> WindowHours:
        if self.end_hour < self.start_hour:
            raise ValueError("a commute window must not cross midnight (end_hour < start_hour)")
        return self

    @property
    def hours(self) -> int:
        return self.end_hour - self.start_hour + 1


Window = Literal["morning", "evening"]
WINDOWS: tuple[Window, ...] = ("morning", "evening")


class CommuteParams(Params):
    lead_hours: int = Field(ge=1, le=24)
    windows: dict[Window, WindowHours]

    @field_validator("windows")
    @classmethod
    def _both(cls, value: dict[Window, WindowHours]) -> dict[Window, WindowHours]:
        missing = set(WINDOWS) - set(value)
        if missing:
            raise ValueError(f"missing commute windows: {sorted(missing)}")
        return value


class WetPenalty(Params):
    rain: float = Field(ge=0)
    snow: float = Field(ge=0)
    mixed: float = Field(ge=0)


class LabelBands(Params):
    excellent: float
    good: float
    fair: float

    @model_validator(mode="after")
    def _descending(self) -> LabelBands:
        if not self.excellent > self.good > self.fair:
            raise ValueError("label bands must satisfy excellent > good > fair")
        return self


class ComfortParams(Params):
    temp_band_c: tuple[float, float]
    temp_penalty_per_c: float = Field(ge=0)
    temp_penalty_max: float = Field(ge=0)
    wet_penalty: WetPenalty
    precip_penalty_per_mm: float = Field(ge=0)
    precip_penalty_max: float = Field(ge=0)
    wind_threshold_ms: float = Field(ge=0)
    wind_penalty_per_ms: float = Field(ge=0)
    wind_penalty_max: float = Field(ge=0)
    humidity_band_pct: tuple[float, float]
    humidity_penalty_per_pct: float = Field(ge=0)
    humidity_penalty_max: float = Field(ge=0)
    label_bands: LabelBands


class FeaturizeParams(Params):
    horizons_h: tuple[int, ...] = Field(min_length=1)
    persistence_hours: int = Field(ge=1, le=24)
    min_window_hours: int = Field(ge=1)

    @field_validator("horizons_h")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 or h > 72 for h in value):
            raise ValueError("horizons must be between 1 and 72 hours")
        return tuple(sorted(set(value)))


class SplitPeriods(Params):
    test_days: int = Field(ge=1)
    validation_days: int = Field(ge=1)
    min_period_rows: int = Field(ge=1)


class SplitOverride(Params):
    """A dataset's own split lengths, where its record allows more (a full year of validation)."""

    test_days: int | None = Field(None, ge=1)
    validation_days: int | None = Field(None, ge=1)


class SplitParams(SplitPeriods):
    by_dataset: dict[str, SplitOverride] = Field(default_factory=dict)

    def for_dataset(self, name: str | None) -> SplitParams:
        """The split a dataset uses: the defaults with its by_dataset entry applied."""
        override = self.by_dataset.get(name or "")
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class HistGradientBoostingParams(Params):
    learning_rate: float = Field(gt=0)
    max_iter: int = Field(ge=1)
    max_leaf_nodes: int = Field(ge=2)
    min_samples_leaf: int = Field(ge=1)
    l2_regularization: float = Field(ge=0)


class RandomForestParams(Params):
    n_estimators: int = Field(ge=1)
    min_samples_leaf: int = Field(ge=1)
    max_features: float = Field(gt=0, le=1)


class RidgeParams(Params):
    alpha: float = Field(ge=0)


ModelName = Literal[
    "hist_gradient_boosting", "random_forest", "ridge", "hurdle",
    # the same model fitted to the change from persistence (label - persistence_score), added back at
    # forecast time: not bounded by the lowest or highest label the trees saw
    "hist_gradient_boosting_change", "hurdle_change",
]  # fmt: skip
CHANGE_SUFFIX = "_change"


class WetClassifierParams(HistGradientBoostingParams):
    """P(wet window): every candidate carries this classifier, so every model answers "will it be wet?"."""

    monotonic: bool  # constrain P(wet) to rise/fall with the predictors physics signs (model.WET_MONOTONIC)


class HurdleParams(Params):
    """The label's shape: a score regressor for wet windows and one for dry windows, combined with P(wet)."""

    wet: HistGradientBoostingParams
    dry: HistGradientBoostingParams
    blend_forest: bool  # average with train.random_forest, the weight fitted on validation rows
    forest_trees: int = Field(ge=1)  # that forest's n_estimators (one-row forecast time)


class ForecastParams(Params):
    """What every candidate adds to its score (model.Forecaster); fitted on training rows, calibrated on
    validation rows."""

    wet_classifier: WetClassifierParams
    recalibrate_wet: bool  # Platt-scale P(wet) on validation rows
    climatology_days: float = Field(gt=0)  # kernel width of the day-of-year wet-window climatology
    interval: float = Field(gt=0, lt=1)  # central coverage of the score interval
    blend_persistence: bool  # fit a weight on persistence on validation rows


class SelectionParams(Params):
    """Validation decides: the default model unless another candidate's validation RMSE is lower by more
    than `min_rmse_gain` AND the paired block-bootstrap interval of that difference (params `compare`)
    lies wholly below zero: a point difference the intervals cannot tell apart never switches the model."""

    candidates: tuple[ModelName, ...] = Field(min_length=1)
    min_rmse_gain: float = Field(ge=0)


class TrainParams(Params):
    model: ModelName  # the default choice; see SelectionParams
    seed: int
    selection: SelectionParams
    hist_gradient_boosting: HistGradientBoostingParams
    random_forest: RandomForestParams
    ridge: RidgeParams
    hurdle: HurdleParams
    forecast: ForecastParams


class ImportanceParams(Params):
    """Permutation importance, the evaluate stage's feature_importance plot (sklearn's
    permutation_importance): each of `repeats` shuffles of every feature is scored on a random
    `max_windows` of the test windows (all of them when there are fewer)."""

    repeats: int = Field(ge=1)
    max_windows: int = Field(ge=100)


class EvaluateParams(Params):
    importance: ImportanceParams


class GateParams(Params):
    rmse_max: float = Field(gt=0)
    min_skill: float
    min_train_rows: int = Field(ge=1)
    station_full_year_days: int = Field(ge=1)
    max_rmse_regression: float = Field(ge=0)


class CompareParams(Params):
    """The paired block bootstrap behind every "is this change real?" interval
    (commute_weather.forecast.compare).

    block_days: the resampled unit is this many consecutive test dates, all their windows together.
    Weather comes in spells: a cold snap, a rainy front or a heat wave lasts several days, so a model's
    errors on neighbouring days are correlated, and resampling single days (or single windows) treats
    correlated days as independent evidence and gives intervals that are too narrow. A week spans a
    typical synoptic spell (fronts and highs pass in about 3-7 days), so days in different weekly blocks
    are close to independent, while a 365-day test period still holds about 52 blocks to resample. On
    simulated errors that persist (AR(1), phi 0.7 per day) 95% intervals from 7-day blocks cover the true
    change 91% of the time, from single windows 61% (BENCHMARKS.md, "Paired block bootstrap").
    resamples: bootstrap resamples (with 2,000 the endpoints move by 0.01-0.02 RMSE between seeds).
    seed: the interval is reproducible for a seed. confidence: the interval's coverage (0.95).
    """

    block_days: int = Field(ge=1)
    resamples: int = Field(ge=100)
    seed: int
    confidence: float = Field(gt=0, lt=1)


class ServeParams(Params):
    dataset: str  # whose model `make package` packages and `make serve` serves
    unseen_stations: bool = False  # also answer registry stations the model was not trained on


class MonitorParams(Params):
    """`commute-weather monitor`: the served model on the latest real weather (reporting/monitor.py).

    days: the period scored, ending at the last date with observations. coverage_alpha: the interval's
    coverage alerts when a two-sided binomial test at this level rejects the nominal coverage (so the band
    widens on a short period instead of alerting on noise). psi_bins: quantile bins of the training rows for
    the population stability index; psi_shift: the PSI above which (beyond its small-sample noise floor) a
    feature is reported as shifted.
    """

    days: int = Field(ge=7)
    coverage_alpha: float = Field(gt=0, lt=0.5)
    psi_bins: int = Field(ge=2, le=20)
    psi_shift: float = Field(gt=0)


class LiveDataset(Params):
    """A real dataset fed by the KMA API: `commute-weather retrain` fetches its complete months not yet
    embedded under `input` (typ01 bodies, <station>/<YYYY-MM>.txt) and, with enough new windows, proposes it
    as `datasets.<name>` (source typ01) in a pull request. Never part of the default `dvc repro` before."""

    stations: KnownStations
    start_month: Month
    end_month: Literal["latest"]  # the last complete month (KST) when the job runs
    input: Path

    def embeds_as(self, dataset: DatasetParams) -> bool:
        """Whether `dataset` is what a merged retraining pull request made of this live dataset."""
        return (
            dataset.source == "typ01"
            and dataset.input == self.input
            and tuple(dataset.stations) == self.stations
            and dataset.start_month == self.start_month
        )


class RetrainParams(Params):
    """`commute-weather retrain` (the weekly workflow); params.yaml says why the threshold is what it is."""

    min_new_windows: int = Field(ge=1)
    branch: str = Field(pattern=r"^[A-Za-z0-9._/-]+$")
    live: dict[str, LiveDataset]


class PipelineParams(Params):
    datasets: dict[str, DatasetParams] = Field(min_length=1)
    serve: ServeParams
    ingest: IngestParams
    validate_: ValidateParams = Field(alias="validate")
    commute: CommuteParams
    comfort: ComfortParams
    featurize: FeaturizeParams
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    gate: GateParams
    compare: CompareParams  # read by the PR report and the gate, not by any stage
    monitor: MonitorParams  # read by `commute-weather monitor`, not by any stage
    retrain: RetrainParams  # read by `commute-weather retrain`, not by any stage

    @field_validator("datasets")
    @classmethod
    def _names(cls, value: dict[str, DatasetParams]) -> dict[str, DatasetParams]:
        bad = [name for name in value if not DATASET_NAME.match(name)]
        if bad:
            raise ValueError(
                f"dataset names must be lowercase letters, digits and _ (they name folders): {bad}"
            )
        return value

    @model_validator(mode="after")
    def _served_exists(self) -> PipelineParams:
        if self.serve.dataset not in self.datasets:
            raise ValueError(
                f"serve.dataset {self.serve.dataset!r} is not one of datasets {list(self.datasets)}"
            )
        unknown = sorted(set(self.split.by_dataset) - set(self.datasets))
        if unknown:
            raise ValueError(f"split.by_dataset names {unknown}, which are not datasets")
        if self.train.model not in self.train.selection.candidates:
            raise ValueError(f"train.model {self.train.model!r} is not one of train.selection.candidates")
        for name, live in self.retrain.live.items():
            embedded = self.datasets.get(name)
            if embedded is not None and not live.embeds_as(embedded):
                raise ValueError(
                    f"retrain.live.{name} and datasets.{name} differ: a live dataset's name in `datasets` "
                    "must be its embedded months (source typ01, the same input, stations and start_month); "
                    "rename one"
                )
        return self

    @property
    def dataset_names(self) -> list[str]:
        """Real datasets first (their figures decide), then the rest, each group in params.yaml's order."""
        return sorted(self.datasets, key=lambda name: not self.datasets[name].real)

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise ParamsError(f"no dataset {name!r} in params.yaml; datasets: {list(self.datasets)}")
        return self.datasets[name]


class ParamsError(ConfigurationError, ValueError):
    """params.yaml is missing, unreadable or does not match the expected shape."""


def load_params(path: Path) -> PipelineParams:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParamsError(f"params file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return PipelineParams.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ParamsError(f"{path}: {problems}") from exc
