"""The service's request model and the pipeline's data contract describe the same observations: one source
of physical limits (schemas.RANGES) for both, checked here against each."""

from __future__ import annotations

from typing import Any, get_args

import pandas as pd
import pandera.errors
import pytest
from pydantic import ValidationError

from commute_weather.clock import KST
from commute_weather.contracts.observations import (
    DEW_POINT_MARGIN_C,
    OBSERVATION_COLUMNS,
    PRECIPITATION_TYPES,
    RANGES,
    TIMESTAMP_DTYPE,
    Observations,
)
from commute_weather.serving.api_models import Observation


def test_request_fields_are_the_contract_columns() -> None:
    # source_file is the pipeline's provenance, not an observation a client sends
    assert set(Observation.model_fields) == set(OBSERVATION_COLUMNS) - {"station_id", "source_file"}


def test_precipitation_types_match() -> None:
    annotation = Observation.model_fields["precipitation_type"].annotation
    assert set(get_args(annotation)) == set(PRECIPITATION_TYPES)


def test_both_take_their_physical_ranges_from_limits() -> None:
    schema = Observations.to_schema()
    measured = {n for n in Observation.model_fields if n not in {"observed_at", "precipitation_type"}}
    assert measured == set(RANGES)
    for name in measured:
        bounds = {type(m).__name__: m for m in Observation.model_fields[name].metadata}
        checks = {c.name: c.statistics for c in schema.columns[name].checks}
        assert (bounds["Ge"].ge, bounds["Le"].le) == RANGES[name], name
        assert checks["greater_than_or_equal_to"]["min_value"] == RANGES[name][0], name
        assert checks["less_than_or_equal_to"]["max_value"] == RANGES[name][1], name


def row(**values: Any) -> dict[str, Any]:
    base = dict.fromkeys(RANGES) | {"temperature_c": 10.0, "dew_point_c": 5.0}
    return base | values


def accepted_by_contract(values: dict[str, Any]) -> bool:
    frame = pd.DataFrame(
        [{"station_id": 108, "observed_at": pd.Timestamp("2024-06-15 04:00", tz=KST), **values,
          "precipitation_type": "none", "source_file": ""}]
    )[list(OBSERVATION_COLUMNS)]  # fmt: skip
    frame["observed_at"] = frame["observed_at"].astype(TIMESTAMP_DTYPE)
    for column in RANGES:
        frame[column] = frame[column].astype("float64")
    try:
        Observations.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors:
        return False
    return True


def accepted_by_service(values: dict[str, Any]) -> bool:
    try:
        Observation.model_validate({"observed_at": "2024-06-15T04:00:00+09:00", **values})
    except ValidationError:
        return False
    return True


CASES = {
    "plausible": row(),
    "dew point far above temperature": row(temperature_c=10.0, dew_point_c=30.0),
    "dew point within the rounding margin": row(temperature_c=10.0, dew_point_c=10.0 + DEW_POINT_MARGIN_C),
    "dew point just past the margin": row(temperature_c=10.0, dew_point_c=10.0 + DEW_POINT_MARGIN_C + 0.1),
    "dew point without temperature": row(temperature_c=None, dew_point_c=30.0),
    **{f"{c} at its lowest": row(**{c: lo}) for c, (lo, _) in RANGES.items() if c != "dew_point_c"},
    **{f"{c} below its range": row(**{c: lo - 1}) for c, (lo, _) in RANGES.items()},
    **{f"{c} above its range": row(**{c: hi + 1}) for c, (_, hi) in RANGES.items()},
}


@pytest.mark.parametrize("case", list(CASES))
def test_service_and_contract_accept_and_reject_the_same_observations(case: str) -> None:
    values = CASES[case]
    assert accepted_by_service(values) == accepted_by_contract(values), case
