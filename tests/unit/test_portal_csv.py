from __future__ import annotations

import io

import pandas as pd
import pytest

from commute_weather.sources.kma.errors import KmaFormatError
from commute_weather.sources.kma.portal_csv import parse_portal_csv
from commute_weather.sources.normalize import normalize
from tests.conftest import CHEONGJU


@pytest.fixture(scope="module")
def cheongju() -> bytes:
    return (CHEONGJU / "OBS_ASOS_TIM_131_2022.csv").read_bytes()


def test_real_export_gives_plausible_rows_without_sentinels(cheongju: bytes) -> None:
    observations = normalize(parse_portal_csv(cheongju, "cheongju"))
    assert len(observations) == 8736
    assert set(observations["station_id"]) == {131}
    assert observations["observed_at"].iloc[0].isoformat() == "2022-01-01T01:00:00+09:00"
    assert observations["temperature_c"].between(-25, 40).all()
    assert observations["humidity_pct"].between(0, 100).all()
    # No sentinel left: quantities that cannot be negative are not, temperatures are above -50.
    for column in ("humidity_pct", "wind_speed_ms", "wind_dir_deg", "precipitation_mm", "snow_depth_cm",
                   "pressure_hpa", "cloud_cover_tenths", "visibility_m"):  # fmt: skip
        assert (observations[column].dropna() >= 0).all(), column
    assert observations[["temperature_c", "dew_point_c"]].min().min() > -50
    # Winter precipitation only at the 3-hourly reports; the rest of the year every hour.
    winter = observations[observations["observed_at"].dt.month == 1]
    assert winter.loc[winter["observed_at"].dt.hour % 3 != 0, "precipitation_mm"].isna().all()
    summer = observations[observations["observed_at"].dt.month == 7]
    assert summer["precipitation_mm"].notna().all()
    assert summer["precipitation_mm"].sum() == pytest.approx(171.7, abs=0.1)


def test_utf8_bom_copy_parses_the_same(cheongju: bytes) -> None:
    resaved = b"\xef\xbb\xbf" + cheongju.decode("cp949").encode("utf-8")
    pd.testing.assert_frame_equal(parse_portal_csv(resaved, "bom"), parse_portal_csv(cheongju, "cp949"))


def test_older_layout_and_dropped_leading_zeros(cheongju: bytes) -> None:
    table = pd.read_csv(io.StringIO(cheongju.decode("cp949")), dtype=str, keep_default_na=False)
    older = table.drop(columns=["지점명", *[c for c in table.columns if "QC" in c]]).head(48)
    older["일시"] = older["일시"].str.replace(" 0", " ", regex=False)  # '2022-01-01 1:00'
    parsed = parse_portal_csv(older.to_csv(index=False).encode("cp949"), "older")
    reference = parse_portal_csv(cheongju, "current").head(48)
    pd.testing.assert_frame_equal(parsed, reference)


def test_weather_codes_keep_leading_zeros(cheongju: bytes) -> None:
    records = parse_portal_csv(cheongju, "cheongju")
    assert "01" in set(records["weather_codes"])


def test_missing_column_is_named() -> None:
    data = "지점,일시,기온(°C)\n131,2022-01-01 01:00,1.0\n".encode("cp949")
    with pytest.raises(
        KmaFormatError, match=r"missing columns \['강수량\(mm\)', '풍속\(m/s\)', '습도\(%\)'\]"
    ):
        parse_portal_csv(data, "partial.csv")


def test_bad_time_names_row_and_column(cheongju: bytes) -> None:
    text = cheongju.decode("cp949").replace("2022-01-01 03:00", "2022-13-01 03:00", 1)
    with pytest.raises(KmaFormatError, match="row 4 column 일시"):
        parse_portal_csv(text.encode("cp949"), "bad.csv")


def test_a_value_that_is_not_a_number_is_named(cheongju: bytes) -> None:
    text = cheongju.decode("cp949")
    header, first, rest = text.split("\n", 2)
    cells = first.split(",")
    cells[3] = "1.2.3"  # 기온(°C)
    with pytest.raises(KmaFormatError, match=r"bad.csv: row 2 column 기온\(°C\) is not a number: '1.2.3'"):
        parse_portal_csv("\n".join([header, ",".join(cells), rest]).encode("cp949"), "bad.csv")


def test_a_row_with_extra_fields_is_not_a_readable_csv(cheongju: bytes) -> None:
    text = cheongju.decode("cp949")
    header, first, rest = text.split("\n", 2)
    with pytest.raises(KmaFormatError, match=r"bad\.csv: not a readable CSV"):
        parse_portal_csv("\n".join([header, first + ",extra", rest]).encode("cp949"), "bad.csv")
