"""KMA data portal ASOS hourly CSV exports (FORMAT.md section 2), both layouts, cp949 or UTF-8 with BOM.

Columns are mapped by header name, never by position: the current layout (38 columns, with station name
and QC flags) and the older one (27 columns) share the value columns read here. The portal lets a user
choose the columns of an export: the time, the station and what the label needs (REQUIRED_COLUMNS) must be
there; any other column may be absent, and is then missing data (NaN) whose cost OPTIONAL_COSTS states.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from commute_weather.clock import KST
from commute_weather.sources.kma.errors import KmaFormatError
from commute_weather.sources.kma.records import RECORD_COLUMNS, finish_records

STATION = "지점"
TIME = "일시"
# header name -> record column
VALUE_COLUMNS: dict[str, str] = {
    "기온(°C)": "temperature_c",
    "이슬점온도(°C)": "dew_point_c",
    "습도(%)": "humidity_pct",
    "풍속(m/s)": "wind_speed_ms",
    "풍향(16방위)": "wind_dir_deg",  # degrees in the portal, not tens of degrees
    "강수량(mm)": "precipitation_mm",
    "3시간신적설(cm)": "snow_new_3h_cm",
    "적설(cm)": "snow_depth_cm",
    "해면기압(hPa)": "pressure_hpa",
    "현지기압(hPa)": "station_pressure_hpa",
    "전운량(10분위)": "cloud_cover_tenths",
    "시정(10m)": "visibility_m",
}
WEATHER_CODES = "현상번호(국내식)"  # read as text: as a number it loses leading zeros
# What the comfort label reads: an export without one of these cannot give a label.
REQUIRED_COLUMNS: tuple[str, ...] = (STATION, TIME, "기온(°C)", "강수량(mm)", "풍속(m/s)", "습도(%)")
# Every other column an export may leave out, and what its absence costs downstream.
OPTIONAL_COSTS: dict[str, str] = {
    "이슬점온도(°C)": "no dew point: the humidity consistency check cannot run on these hours",
    "풍향(16방위)": "no wind direction (no feature reads it)",
    "3시간신적설(cm)": "no 3-hour new snow: precipitation with no code and above 1 C counts as rain",
    "적설(cm)": "no snow depth: the snow-depth features are missing",
    "해면기압(hPa)": "no sea-level pressure: derived from station pressure, altitude and temperature "
    "where those exist (counted in ingest.json), else the pressure features are missing",
    "현지기압(hPa)": "no station pressure: the station vs sea-level pressure check cannot run",
    "전운량(10분위)": "no cloud cover: the cloud features are missing",
    "시정(10m)": "no visibility: the visibility features are missing",
    WEATHER_CODES: "no weather codes: precipitation type from amount and temperature only, so drizzle, "
    "snow and showers between winter's 3-hourly reports are not seen (the label's wet hours are fewer)",
}
_TIME_PATTERN = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\s+(\d{1,2}):(\d{2})$")


def decode(data: bytes, source: str) -> str:
    """cp949 as exported, or UTF-8 with a BOM when a user re-saved the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("cp949")
    except UnicodeDecodeError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KmaFormatError(f"{source}: neither cp949 nor UTF-8 text ({exc})") from exc


def parse_times(text: pd.Series, source: str) -> pd.Series:
    """`YYYY-MM-DD HH:MM` in KST, tolerating dropped leading zeros and the portal's 24:00."""
    parts = text.str.strip().str.extract(_TIME_PATTERN)
    bad = parts[0].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise KmaFormatError(f"{source}: row {row + 2} column {TIME} is not a time: {text.iloc[row]!r}")
    numbers = parts.astype("int64")
    hours = numbers[3]
    day_start = pd.to_datetime(
        pd.DataFrame({"year": numbers[0], "month": numbers[1], "day": numbers[2]}), errors="coerce"
    )
    if day_start.isna().any() or (hours > 24).any() or (numbers[4] > 59).any():
        row = int(np.flatnonzero((day_start.isna() | (hours > 24) | (numbers[4] > 59)).to_numpy())[0])
        raise KmaFormatError(f"{source}: row {row + 2} column {TIME} is not a valid time: {text.iloc[row]!r}")
    stamps = day_start + pd.to_timedelta(hours, unit="h") + pd.to_timedelta(numbers[4], unit="min")
    return stamps.dt.tz_localize(KST)


def read_table(text: str, source: str) -> dict[str, pa.StringArray]:
    """Every column of an export as text, trimmed, keyed by its trimmed header (Arrow's CSV reader)."""
    header = next(csv.reader([text.partition("\n")[0]]), [])
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
        )
    except pa.ArrowInvalid as exc:
        raise KmaFormatError(f"{source}: not a readable CSV ({exc})") from exc
    return {
        name.strip(): pc.utf8_trim_whitespace(column.combine_chunks())
        for name, column in zip(table.column_names, table.columns, strict=True)
    }


def read_table_with(
    data: bytes, source: str, required: Sequence[str], what: str, why: str = ""
) -> dict[str, pa.StringArray]:
    """`read_table` of a saved file, refused naming the `required` columns it lacks (`what`: the kind of
    file it then is not; `why`: what those columns are for)."""
    table = read_table(decode(data, source), source)
    missing = [c for c in required if c not in table]
    if missing:
        raise KmaFormatError(f"{source}: {what} {missing}{why}; its header starts {list(table)[:6]}")
    return table


def _numbers(text: pa.StringArray, header: str, source: str) -> np.ndarray:
    """A value column as float64; blank is NaN, anything else that is not a number is an error."""
    try:
        blank_as_null = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        values: np.ndarray = pc.cast(blank_as_null, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        raw = pd.Series(text.to_pylist())
        bad = pd.to_numeric(raw, errors="coerce").isna() & raw.ne("")
        row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
        raise KmaFormatError(
            f"{source}: row {row + 2} column {header} is not a number: {raw.iloc[row]!r}"
        ) from None
    return values


def _times(text: pa.StringArray, source: str) -> pd.Series:
    try:  # the usual zero-padded form, in Arrow; parse_times handles the rest (24:00, dropped zeros)
        stamps = pc.strptime(text, format="%Y-%m-%d %H:%M", unit="ns")
        return pd.Series(stamps.to_numpy(zero_copy_only=False)).dt.tz_localize(KST)
    except pa.ArrowInvalid:
        return parse_times(pd.Series(text.to_pylist()), source)


def parse_portal_csv(data: bytes, source: str) -> pd.DataFrame:
    """Parse one export into the shared record frame (see records.RECORD_COLUMNS)."""
    return parse_portal_export(data, source)[0]


def parse_portal_export(data: bytes, source: str) -> tuple[pd.DataFrame, list[str]]:
    """One export as the shared record frame, and the optional columns (OPTIONAL_COSTS) it leaves out."""
    table = read_table_with(
        data, source, REQUIRED_COLUMNS, "not a KMA ASOS hourly export: missing columns",
        " (the time, the station and what the comfort label needs)",
    )  # fmt: skip
    absent = [c for c in OPTIONAL_COSTS if c not in table]
    try:
        station = pc.cast(table[STATION], pa.int64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        row = int(np.flatnonzero(~pd.Series(table[STATION].to_pylist()).str.fullmatch(r"\d+"))[0])
        raise KmaFormatError(f"{source}: row {row + 2} column {STATION} is not a station id") from None
    records = pd.DataFrame({"station_id": station, "observed_at": _times(table[TIME], source)})
    for header, column in VALUE_COLUMNS.items():
        records[column] = _numbers(table[header], header, source) if header in table else np.nan
    # Blank means "none" for snow in the portal export (an absent column stays unknown).
    if "적설(cm)" in table:
        records["snow_depth_cm"] = records["snow_depth_cm"].fillna(0.0)
    records["visibility_m"] = records["visibility_m"] * 10.0
    records["snow_day_cm"] = np.nan
    codes = table.get(WEATHER_CODES)
    records["weather_codes"] = (
        pd.Series(codes.to_numpy(zero_copy_only=False), dtype="str") if codes is not None else ""
    )
    records["present_weather"] = np.nan
    return finish_records(records[list(RECORD_COLUMNS)]), absent
