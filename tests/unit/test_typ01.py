from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commute_weather.sources.kma.errors import KmaApiError, KmaFormatError, KmaTruncatedError
from commute_weather.sources.kma.typ01 import COLUMNS, END_MARKER, HEADER, parse_typ01, read_rows
from commute_weather.sources.normalize import normalize

# One real row (Seoul, 2024-01-01 00:00) with TA edited to the values under test.
ROW = (
    "202401010000 108   2  1.9  -9 -9.0   -9 1015.4 1026.3  2   1.8 {ta:>5} {td:>5}  97.0   6.2   -9.0"
    "    4.7    4.7   -9.0   -9.0   -9.0    2.4 10  0 19                       0   0   -9 -         -9  -9"
    "  -9   394 -9.0 -9.00 -9  -0.2  -0.1  -0.2   0.0   1.0  -9 -9.0 -9  3  1"
)


def body(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows) + END_MARKER + "\n"


def test_columns_are_the_46_of_current_responses() -> None:
    assert len(COLUMNS) == 46
    assert COLUMNS[16:18] == ("RN_DAY", "RN_JUN")


def test_real_head_parses_every_row_with_46_fields(samples: Path) -> None:
    text = (samples / "typ01_sfctm3_stn108_2024-01_head.txt").read_text() + END_MARKER + "\n"
    raw = read_rows(text, "head")
    assert raw.shape == (56, 46)
    records = parse_typ01(text, "head")
    first = records.iloc[0]
    assert first["station_id"] == 108
    assert first["observed_at"].isoformat() == "2024-01-01T00:00:00+09:00"
    assert first["temperature_c"] == pytest.approx(0.6)
    assert first["wind_dir_deg"] == 20.0  # WD 2 = 20 degrees
    assert first["visibility_m"] == 3940.0  # VS 394 in units of 10 m
    assert first["pressure_hpa"] == pytest.approx(1026.3)  # sea-level, not station pressure
    assert np.isnan(first["precipitation_mm"])  # -9.0 sentinel


def test_real_tail_ends_with_the_end_marker(samples: Path) -> None:
    text = "#START7777\n" + (samples / "typ01_sfctm3_stn108_2024-01_tail.txt").read_text()
    records = parse_typ01(text, "tail")
    assert len(records) == 11
    assert records["observed_at"].iloc[-1].isoformat() == "2024-01-31T23:00:00+09:00"


def test_minus_nine_is_a_real_temperature_but_minus_ninety_nine_is_missing() -> None:
    records = parse_typ01(body(ROW.format(ta="-9.0", td="-99.0")), "fixture")
    assert records["temperature_c"].iloc[0] == -9.0
    assert np.isnan(records["dew_point_c"].iloc[0])


def test_no_sentinel_survives_normalization(samples: Path) -> None:
    text = (samples / "typ01_sfctm3_stn108_2024-01_head.txt").read_text() + END_MARKER + "\n"
    observations = normalize(parse_typ01(text, "head"))
    numeric = observations.select_dtypes("float64")
    # These 56 real hours stayed above -9 C, so no value may be that low.
    assert not (numeric <= -9).any().any()


def test_snow_excerpt_keeps_three_hourly_winter_precipitation(samples: Path) -> None:
    text = "#START7777\n" + (samples / "typ01_sfctm3_stn108_2024-11_snow.txt").read_text() + END_MARKER + "\n"
    observations = normalize(parse_typ01(text, "snow")).set_index("observed_at")
    precipitation = observations["precipitation_mm"]
    report_hours = precipitation.index.hour % 3 == 0
    assert precipitation[~report_hours].isna().all()  # never invented between reports
    assert precipitation[report_hours].notna().all()
    assert precipitation.loc["2024-11-27 06:00"] == 9.0  # the 03-06 h total, once
    assert set(observations["precipitation_type"]) >= {"snow", "mixed"}
    assert observations["snow_depth_cm"].max() == read_rows(text, "snow")["SD_TOT"].max()  # cm, as reported


def test_json_error_body_is_an_api_error_with_its_message() -> None:
    with pytest.raises(KmaApiError, match="status 403: not subscribed"):
        parse_typ01('{"result":{"status":403,"message":"not subscribed"}}', "station 108 month 2024-01")


def test_body_without_end_marker_is_truncated() -> None:
    with pytest.raises(KmaTruncatedError, match="truncated"):
        parse_typ01(HEADER + ROW.format(ta="1.0", td="0.0") + "\n", "x")


def test_rows_with_45_fields_are_rejected_by_name() -> None:
    full = ROW.format(ta="1.0", td="0.0")
    short = " ".join(full.split()[:45])  # what a parser without RN_JUN would expect
    with pytest.raises(KmaFormatError, match="old-parser: data rows have 45 fields, expected 46"):
        parse_typ01(body(short), "old-parser")
    with pytest.raises(KmaFormatError, match="data row 2 has fewer than 46 fields"):
        parse_typ01(body(full, short), "mixed")


def test_html_or_other_body_is_rejected_with_its_first_line() -> None:
    with pytest.raises(KmaFormatError, match="<html>"):
        parse_typ01("<html>Service Unavailable</html>", "x")


def test_a_value_that_is_not_a_number_is_named_with_its_row_and_column() -> None:
    rows = [ROW.format(ta="1.0", td="0.0"), ROW.format(ta="1.O", td="0.0")]  # a letter O typed for a zero
    with pytest.raises(KmaFormatError, match=r"fixture: column TA row 2 is not a number: '1.O'"):
        parse_typ01(body(*rows), "fixture")


def test_a_row_with_an_extra_field_is_rejected() -> None:
    full = ROW.format(ta="1.0", td="0.0")
    with pytest.raises(KmaFormatError, match="data row 2 has more than 46 fields"):
        parse_typ01(body(full, full + " 7"), "fixture")


def test_a_time_that_is_not_yyyymmddhhmi_is_named() -> None:
    row = ROW.format(ta="1.0", td="0.0").replace("202401010000", "2024010100AM", 1)
    with pytest.raises(KmaFormatError, match="fixture: column TM holds a time that is not YYYYMMDDHHMI"):
        parse_typ01(body(row), "fixture")
