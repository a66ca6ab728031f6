"""Compare the sample generator's climate with a real KMA portal export, side by side.

    python -m commute_weather.calibration --real ../shared/kma/samples/OBS_ASOS_TIM_131_2022.csv

generates the same station over several years and prints monthly temperature, precipitation, wet-hour
share and humidity, plus distributions of humidity and wind, for the synthetic and the real data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from commute_weather.kma.portal_csv import parse_portal_csv
from commute_weather.kma.typ01 import parse_typ01
from commute_weather.normalize import normalize
from commute_weather.schemas import Observations as Obs
from commute_weather.synthetic import generate


def monthly_climate(observations: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month, averaged over the years present."""
    month = observations[Obs.observed_at].dt.month
    year = observations[Obs.observed_at].dt.year
    wet = observations[Obs.precipitation_type].ne("none")
    per_year = (
        observations.assign(month=month, year=year, wet=wet)
        .groupby(["year", "month"])
        .agg(
            precipitation=(Obs.precipitation_mm, "sum"),
            snow_hours=(Obs.precipitation_type, lambda s: int(s.eq("snow").sum())),
        )
    )
    by_month = per_year.groupby("month").mean()
    grouped = observations.assign(month=month, wet=wet).groupby("month")
    return pd.DataFrame(
        {
            "temperature_c": grouped[Obs.temperature_c].mean(),
            "precipitation_mm": by_month["precipitation"],
            "wet_hour_share": grouped["wet"].mean(),
            "snow_hours": by_month["snow_hours"],
            "humidity_pct": grouped[Obs.humidity_pct].mean(),
        }
    )


def distributions(observations: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for column in (
        Obs.temperature_c,
        Obs.humidity_pct,
        Obs.wind_speed_ms,
        Obs.pressure_hpa,
        Obs.visibility_m,
    ):
        values = observations[column].dropna()
        rows[column] = {
            "mean": values.mean(),
            "p10": values.quantile(0.1),
            "p50": values.median(),
            "p90": values.quantile(0.9),
            "missing": observations[column].isna().mean(),
        }
    wet = observations[Obs.precipitation_type].ne("none")
    rows["wet_hour_share"] = {"mean": wet.mean()}
    rows["wet_spell_hours"] = {"mean": _spell_lengths(wet.to_numpy()).mean()}
    hour = observations[Obs.observed_at].dt.hour
    for column in (Obs.wind_speed_ms, Obs.humidity_pct):
        # Hour-to-hour persistence of departures from the mean daily cycle: what makes 3 h ahead predictable.
        departure = observations[column] - observations.groupby(hour)[column].transform("mean")
        rows[f"{column}_autocorr_1h"] = {"mean": departure.autocorr(1)}
    years = observations[Obs.observed_at].dt.year.nunique()
    rows["annual_precipitation_mm"] = {"mean": observations[Obs.precipitation_mm].sum() / years}
    return pd.DataFrame(rows).T


def _spell_lengths(wet: np.ndarray) -> np.ndarray:
    edges = np.diff(np.concatenate([[0], wet.astype(int), [0]]))
    lengths: np.ndarray = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return lengths


def synthetic_observations(station_id: int, start_month: str, end_month: str, seed: int) -> pd.DataFrame:
    files = generate((station_id,), start_month, end_month, seed)
    return normalize(pd.concat([parse_typ01(f.text, f"{f.station_id}/{f.month}") for f in files]))


def _table(title: str, synthetic: pd.DataFrame, real: pd.DataFrame) -> Table:
    table = Table(title=title)
    table.add_column("")
    for column in synthetic.columns:
        table.add_column(f"{column}\nsynthetic | real", justify="right")
    for index in synthetic.index:
        cells = []
        for column in synthetic.columns:
            s, r = synthetic.loc[index, column], real.loc[index, column] if index in real.index else np.nan
            cells.append(f"{s:8.3f} | {r:8.3f}" if not np.isnan(s) else "")
        table.add_row(str(index), *cells)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", type=Path, required=True, help="a KMA portal ASOS hourly CSV export")
    parser.add_argument("--start-month", default="2020-01")
    parser.add_argument("--end-month", default="2024-12")
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args(argv)
    real = normalize(parse_portal_csv(args.real.read_bytes(), str(args.real)))
    station_id = int(real[Obs.station_id].iloc[0])
    synthetic = synthetic_observations(station_id, args.start_month, args.end_month, args.seed)
    console = Console(width=160)
    console.print(_table(f"Station {station_id} by month", monthly_climate(synthetic), monthly_climate(real)))
    console.print(_table("Distributions", distributions(synthetic), distributions(real)))


if __name__ == "__main__":
    main()
