"""The service's request model and the pipeline's data contract describe the same observations."""

from __future__ import annotations

from typing import get_args

from commute_weather.api_models import Observation
from commute_weather.schemas import OBSERVATION_COLUMNS, PRECIPITATION_TYPES, Observations


def test_request_fields_are_the_contract_columns() -> None:
    assert set(Observation.model_fields) == set(OBSERVATION_COLUMNS) - {"station_id"}


def test_precipitation_types_match() -> None:
    annotation = Observation.model_fields["precipitation_type"].annotation
    assert set(get_args(annotation)) == set(PRECIPITATION_TYPES)


def test_physical_ranges_come_from_the_contract() -> None:
    schema = Observations.to_schema()
    for name, field in Observation.model_fields.items():
        bounds = {type(m).__name__: m for m in field.metadata}
        checks = {c.name: c.statistics for c in schema.columns[name].checks}
        if "greater_than_or_equal_to" in checks:
            assert bounds["Ge"].ge == checks["greater_than_or_equal_to"]["min_value"], name
            assert bounds["Le"].le == checks["less_than_or_equal_to"]["max_value"], name
