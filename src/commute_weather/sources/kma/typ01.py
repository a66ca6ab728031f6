"""The API Hub typ01 text format (kma_sfctm2 / kma_sfctm3): parse it, and write it for the sample generator.

A body is `#START7777`, comment lines (ruler, names, units), 46 whitespace-separated fields per data row,
and `#7777END`. A body that starts with `{` is a JSON error; one without the end marker is truncated.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from commute_weather.clock import KST
from commute_weather.sources.kma.errors import KmaApiError, KmaFormatError, KmaTruncatedError
from commute_weather.sources.kma.records import RECORD_COLUMNS, finish_records

COLUMNS: tuple[str, ...] = (
    "TM", "STN", "WD", "WS", "GST_WD", "GST_WS", "GST_TM", "PA", "PS", "PT", "PR", "TA", "TD", "HM", "PV",
    "RN", "RN_DAY", "RN_JUN", "RN_INT", "SD_HR3", "SD_DAY", "SD_TOT", "WC", "WP", "WW", "CA_TOT", "CA_MID",
    "CH_MIN", "CT", "CT_TOP", "CT_MID", "CT_LOW", "VS", "SS", "SI", "ST_GD", "TS", "TE_005", "TE_01",
    "TE_02", "TE_03", "ST_SEA", "WH", "BF", "IR", "IX",
)  # fmt: skip
START_MARKER = "#START7777"
END_MARKER = "#7777END"
_TEXT_FIELDS = frozenset({"TM", "WW", "CT"})
_NUMERIC_FIELDS = [name for name in COLUMNS if name not in _TEXT_FIELDS]
_NUMERIC_POSITIONS = np.array([COLUMNS.index(name) for name in _NUMERIC_FIELDS])

# The comment lines of a real response (help=0), reproduced by the writer so samples look like the API.
HEADER = (
    "#START7777\n"
    "#" + "".join(str(i % 10) for i in range(2, 252)) + "\n"
    "# YYMMDDHHMI STN  WD   WS GST  GST  GST     PA     PS PT    PR    TA    TD    HM    PV     RN     RN"
    "     RN     RN     SD     SD     SD WC WP WW                      CA  CA   CH CT        CT  CT  CT"
    "    VS   SS    SI ST    TS    TE    TE    TE    TE  ST   WH BF IR IX\n"
    "#        KST  ID  16  m/s  WD   WS   TM    hPa    hPa  -   hPa     C     C     %   hPa     mm    DAY"
    "    JUN    INT    HR3    DAY    TOT -- -- ---------------------- TOT MID  MIN -------- TOP MID LOW"
    "                  GD     C     5    10    20    30 SEA    m --  -  -\n"
)


def check_body(text: str, source: str) -> None:
    """Raise the specific error for a body that is not a complete typ01 response."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        raise KmaApiError(f"{source}: the API answered with an error: {_json_error_message(stripped)}")
    if not stripped.startswith(START_MARKER):
        first = stripped.splitlines()[0][:200] if stripped else "(empty body)"
        raise KmaFormatError(f"{source}: not a typ01 response; it starts with: {first!r}")
    if END_MARKER not in text[-200:]:
        raise KmaTruncatedError(f"{source}: truncated typ01 response: no {END_MARKER} line at the end")


def _json_error_message(body: str) -> str:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return body.splitlines()[0][:200]
    result = payload.get("result", payload) if isinstance(payload, dict) else payload
    if isinstance(result, dict):
        status, message = result.get("status"), result.get("message")
        return f"status {status}: {message}"
    return str(result)[:200]


def parse_typ01(text: str, source: str) -> pd.DataFrame:
    """Parse one complete typ01 body into the shared record frame (see records.RECORD_COLUMNS)."""
    check_body(text, source)
    raw = read_rows(text, source)
    return records_from_typ01(raw, source)


def read_rows(text: str, source: str) -> pd.DataFrame:
    """The data rows of a typ01 body as a frame with the 46 KMA field names: TM, WW and CT as text, the
    others as numbers (a field with a value that is not a number stays text, for records_from_typ01 to
    name). Split by Arrow's whitespace tokenizer: a body's fields are separated by runs of spaces."""
    lines = pa.array(text.splitlines(), type=pa.string())
    comment_or_blank = pc.or_(pc.starts_with(lines, "#"), pc.equal(pc.utf8_trim_whitespace(lines), ""))
    fields = pc.utf8_split_whitespace(lines.filter(pc.invert(comment_or_blank)))
    width = len(COLUMNS)
    if len(fields) == 0:
        return pd.DataFrame({c: pd.Series(dtype=str if c in _TEXT_FIELDS else "float64") for c in COLUMNS})
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    if (counts == counts[0]).all() and counts[0] != width:
        raise KmaFormatError(f"{source}: data rows have {counts[0]} fields, expected {width}")
    wrong = np.flatnonzero(counts != width)
    if wrong.size:
        row = int(wrong[0])
        side = "fewer" if counts[row] < width else "more"
        raise KmaFormatError(f"{source}: data row {row + 1} has {side} than {width} fields")
    flat = pc.list_flatten(fields)
    rows = np.arange(len(fields))[:, None] * width
    words = {name: flat.take(rows[:, 0] + COLUMNS.index(name)) for name in _TEXT_FIELDS}
    numeric = flat.take((rows + _NUMERIC_POSITIONS[None, :]).ravel())
    try:  # one cast for all numeric fields; per field only to find a bad value
        numbers = pc.cast(numeric, pa.float64()).to_numpy().reshape(len(fields), len(_NUMERIC_FIELDS))
        numbers = numbers + 0.0  # "-0" is 0: no negative zero reaches the records
        columns: dict[str, Any] = words | {name: numbers[:, j] for j, name in enumerate(_NUMERIC_FIELDS)}
    except pa.ArrowInvalid:
        columns = dict(words)
        for name in _NUMERIC_FIELDS:
            values = flat.take(rows[:, 0] + COLUMNS.index(name))
            with contextlib.suppress(pa.ArrowInvalid):  # left as text; records_from_typ01 names the value
                values = pc.cast(values, pa.float64())
            columns[name] = values
    columns = {name: columns[name] for name in COLUMNS}
    frame: pd.DataFrame = pa.table(columns).to_pandas()
    return frame


def _numeric(raw: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = raw[column]
    if values.dtype == "float64":
        return values
    bad = pd.to_numeric(values, errors="coerce").isna()
    row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
    raise KmaFormatError(f"{source}: column {column} row {row + 1} is not a number: {values.iloc[row]!r}")


def records_from_typ01(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Map typ01 fields and sentinels to record columns and units (FORMAT.md section 1)."""
    fields = ("STN", "WD", "WS", "PA", "PS", "TA", "TD", "HM", "RN", "SD_HR3", "SD_DAY", "SD_TOT", "WC",
              "CA_TOT", "VS")  # fmt: skip
    num = {c: _numeric(raw, c, source) for c in fields}
    try:
        stamps = pc.strptime(pa.array(raw["TM"], type=pa.string()), format="%Y%m%d%H%M", unit="ns")
    except pa.ArrowInvalid as exc:
        raise KmaFormatError(f"{source}: column TM holds a time that is not YYYYMMDDHHMI ({exc})") from exc
    observed_at = pd.Series(stamps.to_numpy(zero_copy_only=False)).dt.tz_localize(KST)
    missing = -9.0  # the generic sentinel: -9, -9.0, -9.00
    ww = raw["WW"].astype(str)
    n = {name: values.to_numpy() for name, values in num.items()}

    def kept(values: np.ndarray, valid: np.ndarray, otherwise: float = np.nan) -> np.ndarray:
        result: np.ndarray = np.where(valid, values, otherwise)
        return result

    records = pd.DataFrame(
        {
            "station_id": n["STN"].astype("int64"),
            "observed_at": observed_at,
            # TA = -9.0 is a real -9 degrees: temperatures use a much lower sentinel.
            "temperature_c": kept(n["TA"], n["TA"] > -50),
            "dew_point_c": kept(n["TD"], n["TD"] > -50),
            "humidity_pct": kept(n["HM"], n["HM"] >= 0),
            "wind_speed_ms": kept(n["WS"], n["WS"] >= 0),
            # WD counts 10-degree steps (0 = calm) despite the "16" in the units line.
            "wind_dir_deg": kept(n["WD"] * 10.0, n["WD"] >= 0),
            "precipitation_mm": kept(n["RN"], n["RN"] >= 0),
            "snow_new_3h_cm": kept(n["SD_HR3"], n["SD_HR3"] >= 0),
            "snow_day_cm": kept(n["SD_DAY"], n["SD_DAY"] >= 0),
            # No snow cover is reported as the sentinel, which therefore means 0 cm on the ground.
            "snow_depth_cm": kept(n["SD_TOT"], n["SD_TOT"] > missing, 0.0),
            "pressure_hpa": kept(n["PS"], n["PS"] > 0),
            # Not "> 0" as for PS: a damaged 0.0 must reach the contract, which catches and repairs it.
            "station_pressure_hpa": kept(n["PA"], n["PA"] > missing),
            "cloud_cover_tenths": kept(n["CA_TOT"], n["CA_TOT"] >= 0),
            "visibility_m": kept(n["VS"] * 10.0, n["VS"] >= 0),
            "weather_codes": ww.where(ww != "-", ""),
            "present_weather": kept(n["WC"], n["WC"] >= 0),
        }
    )
    return finish_records(records[list(RECORD_COLUMNS)])


# A kma_sfctm3 row, field by field: (field, width, decimals, sentinel) for values, text for the columns
# this project never fills. A missing value is written as its sentinel number in the same format, which
# gives exactly the API's sentinel text ("-9.0", "-99.0", " -9").
_ROW_LAYOUT: tuple[str | tuple[str, int, int, float], ...] = (
    ("WD", 3, 0, -9), ("WS", 4, 1, -9), "  -9 -9.0   -9", ("PA", 6, 1, -9), ("PS", 6, 1, -9),
    "-9  -9.0".rjust(9), ("TA", 5, 1, -99), ("TD", 5, 1, -99), ("HM", 5, 1, -9), ("PV", 5, 1, -9),
    ("RN", 6, 1, -9), ("RN_DAY", 6, 1, -9),
    ("RN_DAY", 6, 1, -9),  # RN_JUN mirrors RN_DAY outside the monsoon bookkeeping
    "  -9.0", ("SD_HR3", 6, 1, -9), ("SD_DAY", 6, 1, -9), ("SD_TOT", 6, 1, -9), ("WC", 2, 0, -9), "-9",
    "WW", ("CA_TOT", 2, 0, -9), ("CA_TOT", 3, 0, -9), "  -9 -         -9  -9  -9", ("VS", 5, 0, -9),
    "-9.0 -9.00 -9  -9.0  -9.0  -9.0  -9.0  -9.0  -9 -9.0 -9", ("IR", 2, 0, -9), ("IX", 2, 0, -9),
)  # fmt: skip


def format_typ01(fields: dict[str, np.ndarray], times: pd.DatetimeIndex, station_id: int) -> str:
    """Render rows as a kma_sfctm3 body. `fields` holds KMA-unit values with NaN where the API sends its
    sentinel; fields not given are written as their sentinel like an unequipped station. One format
    string per row, not per value: the sample source writes millions of values."""
    n = len(times)
    formats = ["%s", str(station_id).rjust(4).replace("%", "%%")]
    columns: list[list[Any]] = [times.strftime("%Y%m%d%H%M").tolist()]
    for part in _ROW_LAYOUT:
        if part == "WW":
            codes = fields.get("WW")
            formats.append("%-22s")
            columns.append(["-" if not w else str(w) for w in (codes if codes is not None else [""] * n)])
        elif isinstance(part, str):
            formats.append(part)
        else:
            name, width, decimals, sentinel = part
            values = np.asarray(fields.get(name, np.full(n, np.nan)), dtype="float64")
            formats.append(f"%{width}.{decimals}f")
            columns.append(np.where(np.isnan(values), sentinel, values).tolist())
    row = " ".join(formats)
    lines = [row % values for values in zip(*columns, strict=True)]
    return HEADER + "\n".join(lines) + ("\n" if lines else "") + END_MARKER + "\n"
