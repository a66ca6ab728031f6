"""Damaged hours: cross-field and temporal checks, the repairs the data itself justifies, and quarantine.

A value can be in range and still impossible: a sign that slid into the neighbouring column turns -10.3 C
into 10.3 C, which no range check sees, but a humidity of 54% with a dew point of -17.8 C only fits
-10.3 C. These checks ask whether an hour's values are consistent with each other and with the station's
neighbouring hours. An hour that fails is quarantined (validate lists it; featurize removes it before any
feature or label reads it), never silently trained on. Every tolerance is in params.yaml `validate.quality`
with the measurement on clean portal exports that justifies it.

Repairs happen only by a declared rule whose evidence is in the same row (REPAIR_RULES), and each one is
listed. Physical formulas:
- Magnus (Alduchov and Eskridge 1996, a = 17.625, b = 243.04 C): relative humidity from air temperature
  and dew point, RH = 100 exp(a Td / (b + Td) - a T / (b + T)).
- Sea-level reduction as KMA's station reports use it (hypsometric, standard lapse rate 0.0065 K/m):
  P0 = P (1 - 0.0065 h / (T + 0.0065 h + 273.15)) ^ -5.257, h the station's altitude (stations.py).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa

from commute_weather.clock import KST
from commute_weather.contracts.observations import DEW_POINT_MARGIN_C, RANGES
from commute_weather.stations import KNOWN_STATIONS

MAGNUS_A: Final = 17.625
MAGNUS_B_C: Final = 243.04
LAPSE_RATE_K_PER_M: Final = 0.0065
BAROMETRIC_EXPONENT: Final = 5.257

HUMIDITY_CHECK: Final = "humidity_consistent_with_temperature_and_dew_point"
TEMPERATURE_SPIKE_CHECK: Final = "temperature_hour_to_hour_spike"
PRESSURE_SPIKE_CHECK: Final = "pressure_hour_to_hour_spike"
STATION_PRESSURE_SPIKE_CHECK: Final = "station_pressure_hour_to_hour_spike"
SEA_LEVEL_CHECK: Final = "station_pressure_consistent_with_sea_level"
QUALITY_CHECKS: Final = (
    HUMIDITY_CHECK,
    TEMPERATURE_SPIKE_CHECK,
    PRESSURE_SPIKE_CHECK,
    STATION_PRESSURE_SPIKE_CHECK,
    SEA_LEVEL_CHECK,
)
# The values each check reads: what the quarantine list shows for an hour it caught.
CHECK_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    HUMIDITY_CHECK: ("temperature_c", "dew_point_c", "humidity_pct"),
    TEMPERATURE_SPIKE_CHECK: ("temperature_c",),
    PRESSURE_SPIKE_CHECK: ("pressure_hpa",),
    STATION_PRESSURE_SPIKE_CHECK: ("station_pressure_hpa",),
    SEA_LEVEL_CHECK: ("temperature_c", "station_pressure_hpa", "pressure_hpa"),
}

TEMPERATURE_SIGN_FLIP: Final = "temperature_sign_flip"
PRESSURE_LEADING_DIGITS: Final = "station_pressure_lost_leading_1000"
REPAIR_RULES: Final[dict[str, str]] = {
    TEMPERATURE_SIGN_FLIP: "humidity disagrees with temperature and dew point, and agrees (within the "
    "humidity tolerance) once the temperature's sign is flipped, which also keeps the dew point at or "
    "below the temperature: the sign slid into the neighbouring column",
    PRESSURE_LEADING_DIGITS: "station pressure below the physical range, and station pressure + 1000 hPa "
    "agrees with the same hour's sea-level pressure (within the sea-level tolerance): the leading '100' "
    "slid into the neighbouring column",
}


def magnus_humidity(temperature_c: Any, dew_point_c: Any) -> Any:
    """Relative humidity (%) that a temperature and dew point imply."""
    return 100.0 * np.exp(
        MAGNUS_A * dew_point_c / (MAGNUS_B_C + dew_point_c)
        - MAGNUS_A * temperature_c / (MAGNUS_B_C + temperature_c)
    )


def sea_level_pressure(station_pressure_hpa: Any, temperature_c: Any, altitude_m: Any) -> Any:
    """Station pressure reduced to sea level (hPa)."""
    lapse = LAPSE_RATE_K_PER_M * altitude_m
    return station_pressure_hpa * (1.0 - lapse / (temperature_c + lapse + 273.15)) ** -BAROMETRIC_EXPONENT


def altitudes(station_id: pd.Series) -> pd.Series:
    """Each row's station altitude from the registry (NaN for a station it does not hold)."""
    table = {sid: s.altitude_m for sid, s in KNOWN_STATIONS.items()}
    return station_id.map(table).astype("float64")


def _neighbour_jumps(df: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """|value - previous hour's| and |value - next hour's| per row, NaN where that hour is not in the data.
    Rows may come in any order: jumps are taken in station and time order and returned in df's order."""
    ordered = df.sort_values(["station_id", "observed_at"], kind="stable")
    same = ordered["station_id"].eq(ordered["station_id"].shift())
    step = ordered["observed_at"].diff().eq(pd.Timedelta(hours=1)) & same
    values = ordered[column]
    before = (values - values.shift()).abs().where(step)
    after = before.shift(-1).where(step.shift(-1, fill_value=False))
    return before.reindex(df.index), after.reindex(df.index)


def spike(df: pd.DataFrame, column: str, tolerance: float) -> pd.Series:
    """True where an hour jumps by more than `tolerance` from each neighbouring hour present (both, when
    both are there): a spike in and out. A real front is a step, one large jump, and passes."""
    before, after = _neighbour_jumps(df, column)
    big_before = before.gt(tolerance) | before.isna()
    big_after = after.gt(tolerance) | after.isna()
    seen = before.notna() | after.notna()
    flagged: pd.Series = big_before & big_after & seen
    return flagged


def humidity_inconsistent(df: pd.DataFrame, tolerance_pct: float) -> pd.Series:
    implied = magnus_humidity(df["temperature_c"], df["dew_point_c"])
    off: pd.Series = (df["humidity_pct"] - implied).abs().gt(tolerance_pct)  # NaN on any side passes
    return off


def sea_level_inconsistent(df: pd.DataFrame, tolerance_hpa: float) -> pd.Series:
    reduced = sea_level_pressure(df["station_pressure_hpa"], df["temperature_c"], altitudes(df["station_id"]))
    off: pd.Series = (df["pressure_hpa"] - reduced).abs().gt(tolerance_hpa)
    return off


def quality_schema(tolerances: Any) -> pa.DataFrameSchema:
    """The cross-field and temporal checks (validate.quality in params.yaml: ValidateQualityParams)."""
    t = tolerances

    flagged = {
        HUMIDITY_CHECK: lambda df: humidity_inconsistent(df, t.humidity_tolerance_pct),
        TEMPERATURE_SPIKE_CHECK: lambda df: spike(df, "temperature_c", t.temperature_spike_c),
        PRESSURE_SPIKE_CHECK: lambda df: spike(df, "pressure_hpa", t.pressure_spike_hpa),
        STATION_PRESSURE_SPIKE_CHECK: lambda df: spike(df, "station_pressure_hpa", t.pressure_spike_hpa),
        SEA_LEVEL_CHECK: lambda df: sea_level_inconsistent(df, t.sea_level_tolerance_hpa),
    }
    return pa.DataFrameSchema(
        checks=[pa.Check(lambda df, f=f: ~f(df), name=name) for name, f in flagged.items()]
    )


def find_repairs(df: pd.DataFrame, tolerances: Any) -> pd.DataFrame:
    """Rows REPAIR_RULES can repair: index, rule, column, value as found, value repaired."""
    t = tolerances
    found: list[pd.DataFrame] = []
    flipped = -df["temperature_c"]
    sign = (
        humidity_inconsistent(df, t.humidity_tolerance_pct)
        & df["temperature_c"].ne(0)
        & ~humidity_inconsistent(df.assign(temperature_c=flipped), t.humidity_tolerance_pct)
        & (df["dew_point_c"] <= flipped + DEW_POINT_MARGIN_C)
    )
    found.append(_repairs(df, sign, TEMPERATURE_SIGN_FLIP, "temperature_c", flipped))
    low = RANGES["station_pressure_hpa"][0]
    restored = df["station_pressure_hpa"] + 1000.0
    digits = (
        df["station_pressure_hpa"].lt(low)
        & df["pressure_hpa"].notna()
        & ~sea_level_inconsistent(df.assign(station_pressure_hpa=restored), t.sea_level_tolerance_hpa)
    )
    found.append(_repairs(df, digits, PRESSURE_LEADING_DIGITS, "station_pressure_hpa", restored))
    return pd.concat(found).sort_index(kind="stable")


def _repairs(df: pd.DataFrame, mask: pd.Series, rule: str, column: str, repaired: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"rule": rule, "column": column, "found": df.loc[mask, column], "repaired": repaired[mask]},
        index=df.index[mask],
    )


def apply_repairs(df: pd.DataFrame, repairs: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for column, group in repairs.groupby("column"):
        out.loc[group.index, str(column)] = group["repaired"].to_numpy()
    return out


def hour_key(station_id: Any, observed_at: Any) -> str:
    """How the report names an hour: `108@2018-01-11T00:00:00+09:00`."""
    return f"{int(station_id)}@{observed_at.isoformat()}"


def clean_observations(
    observations: pd.DataFrame, report: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The observations featurize may use: the validation report's quarantined hours removed."""
    listed = report.get("quality", {}).get("quarantined", [])
    if not listed:
        return observations, {"hours_quarantined_removed": 0}
    hours = pd.MultiIndex.from_arrays(
        [
            pd.Index([int(e["station_id"]) for e in listed], dtype="int64"),
            pd.DatetimeIndex([pd.Timestamp(e["observed_at"]) for e in listed]).tz_convert(KST),
        ]
    )
    drop = pd.MultiIndex.from_frame(observations[["station_id", "observed_at"]]).isin(hours)
    kept = observations.loc[~drop].reset_index(drop=True)
    return kept, {"hours_quarantined_removed": int(drop.sum())}
