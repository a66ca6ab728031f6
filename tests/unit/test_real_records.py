"""The real records users download (data/external/kma): portal exports with a subset of columns, API Hub
responses saved as CSV, several sources per dataset under a declared precedence, repairs by declared rules,
and stub months at export edges. Excerpts of the real files are in tests/fixtures/kma/records."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from commute_weather.cli import StageError
from commute_weather.config import DatasetParams, PipelineParams
from commute_weather.contracts.quality import PRESSURE_LEADING_DIGITS, TEMPERATURE_SIGN_FLIP, find_repairs
from commute_weather.pipeline.ingest import ingest
from commute_weather.pipeline.validate import month_completeness
from commute_weather.sources.kma.api_csv import parse_api_csv
from commute_weather.sources.kma.errors import KmaFormatError
from commute_weather.sources.kma.portal_csv import OPTIONAL_COSTS, parse_portal_export
from commute_weather.sources.merge import merge_sources
from commute_weather.stations import KNOWN_STATIONS
from tests.conftest import REPO

RECORDS = REPO / "tests" / "fixtures" / "kma" / "records"
PORTAL = RECORDS / "portal_108_2018_excerpt.csv"
API_CSV = RECORDS / "api_csv_108_2018_excerpt.csv"


def at(frame: pd.DataFrame, stamp: str) -> pd.Series:
    rows = frame[frame["observed_at"] == pd.Timestamp(stamp, tz="Asia/Seoul")]
    assert len(rows) >= 1, stamp
    return rows.iloc[0]


def test_the_registry_holds_all_96_stations_with_coordinates() -> None:
    assert len(KNOWN_STATIONS) == 96
    for station_id in (101, 136, 146, 184):  # the ones the old eight-station list refused
        station = KNOWN_STATIONS[station_id]
        assert 33 < station.latitude < 39 and 124 < station.longitude < 132
    assert KNOWN_STATIONS[108].name == "Seoul" and KNOWN_STATIONS[108].altitude_m == pytest.approx(85.67)
    assert KNOWN_STATIONS[112].wind_factor == 1.45  # the sample's climate offsets stay


def test_a_portal_export_with_17_columns_is_read_and_names_what_it_lacks() -> None:
    records, absent = parse_portal_export(PORTAL.read_bytes(), str(PORTAL))
    assert absent == ["3시간신적설(cm)", "해면기압(hPa)", "시정(10m)", "현상번호(국내식)"]
    assert all(header in OPTIONAL_COSTS for header in absent)
    hour = at(records, "2018-01-11 00:00")
    assert (hour["temperature_c"], hour["dew_point_c"], hour["humidity_pct"]) == (-10.3, -17.8, 54.0)
    assert np.isnan(hour["pressure_hpa"]) and hour["station_pressure_hpa"] > 1000
    assert records["weather_codes"].eq("").all() and records["visibility_m"].isna().all()


def test_a_portal_export_without_what_the_label_needs_is_refused_naming_it() -> None:
    data = "지점,일시,기온(°C),강수량(mm),풍속(m/s)\n108,2018-01-01 01:00,1.0,,2.0\n".encode("cp949")
    with pytest.raises(KmaFormatError, match=r"missing columns \['습도\(%\)'\]"):
        parse_portal_export(data, "partial.csv")


def test_api_csv_uses_the_typ01_field_rules() -> None:
    records = parse_api_csv(API_CSV.read_bytes(), str(API_CSV))
    first = at(records, "2018-01-10 20:00")
    # -9.0 in RN is the sentinel (missing), in SD_TOT "no snow" (0 cm), WW "-" is no code
    assert np.isnan(first["precipitation_mm"]) and first["snow_depth_cm"] == 0.0
    assert first["weather_codes"] == "" and first["wind_dir_deg"] % 10 == 0
    damaged = at(records, "2018-01-11 00:00")
    assert damaged["temperature_c"] == 10.3  # as found: the conversion lost the sign
    assert at(records, "2018-07-06 22:00")["station_pressure_hpa"] == 0.0  # lost its leading 100


def test_api_csv_text_that_is_not_a_number_is_named() -> None:
    text = API_CSV.read_text(encoding="utf-8").replace(",1017.", ",x1017.", 1)
    with pytest.raises(KmaFormatError, match="field PA is not a number"):
        parse_api_csv(text.encode("utf-8"), "bad.csv")


def test_declared_repairs_restore_what_the_portal_says(params: PipelineParams) -> None:
    api = parse_api_csv(API_CSV.read_bytes(), str(API_CSV))
    portal, _ = parse_portal_export(PORTAL.read_bytes(), str(PORTAL))
    repairs = find_repairs(api, params.validate_.quality)
    by_rule = repairs.groupby("rule").size().to_dict()
    assert by_rule[TEMPERATURE_SIGN_FLIP] >= 1 and by_rule[PRESSURE_LEADING_DIGITS] >= 1
    for stamp, column in (
        ("2018-01-11 00:00", "temperature_c"),
        ("2018-07-06 22:00", "station_pressure_hpa"),
    ):
        index = api.index[api["observed_at"] == pd.Timestamp(stamp, tz="Asia/Seoul")][0]
        assert repairs.loc[index, "repaired"] == at(portal, stamp)[column]
    # the clean portal hours trigger no repair
    assert find_repairs(portal.assign(pressure_hpa=1030.0), params.validate_.quality).empty


def frame(values: list[float], start: str = "2022-08-01 00:00") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=len(values), freq="h", tz="Asia/Seoul")
    return pd.DataFrame({"station_id": 108, "observed_at": stamps, "temperature_c": values})


def test_precedence_decides_overlaps_and_counts_them_per_pair() -> None:
    portal = frame([20.0, 21.0, 22.0])
    api = frame([20.0, 25.0, 22.0, 23.0])  # one hour disagrees, one only here
    sources = {"portal": [("p.csv", portal)], "api_csv": [("a.csv", api)]}
    compared = {"portal": ["temperature_c"], "api_csv": ["temperature_c"]}
    merged, _, pairs = merge_sources(sources, ("portal", "api_csv"), compared)
    assert merged["temperature_c"].tolist() == [20.0, 21.0, 22.0, 23.0]
    assert merged["source_file"].tolist() == ["p.csv", "p.csv", "p.csv", "a.csv"]
    (pair,) = pairs
    assert pair == {
        "kept": "portal",
        "over": "api_csv",
        "hours": 3,
        "agreeing": 2,
        "overridden": 1,
        "compared_columns": ["temperature_c"],
        "differing_by_column": {"temperature_c": 1},
    }
    reverse, _, _ = merge_sources(sources, ("api_csv", "portal"), compared)
    assert reverse["temperature_c"].tolist()[1] == 25.0
    with pytest.raises(StageError, match=r"no place in ingest.precedence"):
        merge_sources(sources, ("portal",), compared)


def test_within_one_source_two_files_that_disagree_still_stop_ingest() -> None:
    sources = {"portal": [("a.csv", frame([20.0, 21.0])), ("b.csv", frame([20.0, 21.5]))]}
    with pytest.raises(StageError, match=r"exports a.csv and b.csv disagree .* \['temperature_c'\]"):
        merge_sources(sources, ("portal", "api_csv"), {"portal": ["temperature_c"]})


def test_ingest_of_both_layouts_merges_repairs_and_counts(tmp_path: Path, params: PipelineParams) -> None:
    folder = tmp_path / "in"
    (folder / "api").mkdir(parents=True)
    shutil.copy(PORTAL, folder / PORTAL.name)
    shutil.copy(API_CSV, folder / "api" / API_CSV.name)
    dataset = DatasetParams(source="csv", real=True, stations=(108,), start_month="2018-01",
                            end_month="2019-01", input=folder)  # fmt: skip
    observations, stats = ingest(dataset, params.ingest, params.validate_.quality, tmp_path / "raw")
    assert set(stats["sources"]) == {"portal", "api_csv"}
    (pair,) = stats["overlaps"]
    assert (pair["kept"], pair["over"]) == ("api_csv", "portal") and pair["hours"] > 0
    assert pair["agreeing"] + pair["overridden"] == pair["hours"]
    # the API excerpt's 2018-09-01 00 h appears twice, differing only by the lost '100' of PA: once repaired
    # the copies agree and collapse
    assert stats["sources"]["api_csv"]["duplicate_hours_collapsed"] == 1
    assert stats["repaired_by_rule"][TEMPERATURE_SIGN_FLIP] >= 1
    assert {a["column"] for a in stats["absent_columns"]} >= {"해면기압(hPa)", "현상번호(국내식)"}
    # the API CSV's damaged hour (10.3 C, the sign lost) is kept, repaired to exactly the portal's -10.3 C
    hour = at(observations, "2018-01-11 00:00")
    assert hour["temperature_c"] == -10.3 and hour["source_file"] == f"api/{API_CSV.name}"
    assert 1000 < hour["pressure_hpa"] < 1050
    assert (tmp_path / "raw" / "api" / API_CSV.name).read_bytes() == API_CSV.read_bytes()


def test_the_raw_copies_are_exactly_the_files_this_run_read(tmp_path: Path, params: PipelineParams) -> None:
    folder, raw = tmp_path / "in", tmp_path / "raw"
    folder.mkdir()
    shutil.copy(PORTAL, folder / PORTAL.name)
    (raw / "api").mkdir(parents=True)
    (raw / "api" / API_CSV.name).write_bytes(API_CSV.read_bytes())  # read by an earlier run, not this one
    dataset = DatasetParams(source="csv", real=True, stations=(108,), start_month="2018-01",
                            end_month="2019-01", input=folder)  # fmt: skip
    ingest(dataset, params.ingest, params.validate_.quality, raw)
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()) == [PORTAL.name]


def test_an_export_without_sea_level_pressure_gets_it_derived_and_counted(
    tmp_path: Path, params: PipelineParams
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PORTAL, folder / PORTAL.name)
    dataset = DatasetParams(source="csv", real=True, stations=(108,), start_month="2018-01",
                            end_month="2019-01", input=folder)  # fmt: skip
    observations, stats = ingest(dataset, params.ingest, params.validate_.quality, tmp_path / "raw")
    # from station pressure, the station's altitude and temperature
    assert stats["sea_level_pressure_derived_hours"] == observations["pressure_hpa"].notna().sum() > 0
    assert observations["pressure_hpa"].dropna().between(980, 1050).all()


def test_a_month_held_only_at_an_export_edge_is_a_stub_not_an_incomplete_month() -> None:
    stamps = pd.date_range("2019-11-01 00:00", "2019-12-01 00:00", freq="h", tz="Asia/Seoul").append(
        pd.date_range("2020-01-02 00:00", "2020-01-31 23:00", freq="h", tz="Asia/Seoul")
    )
    months = month_completeness(pd.DataFrame({"station_id": 108, "observed_at": stamps}))
    december = months.set_index("month").loc["2019-12"]
    assert december["hours"] == 1 and december["stub"]
    assert not months.set_index("month").loc["2020-01", "stub"]
    # two days into the month is no longer an edge: an incomplete month
    longer = stamps.append(pd.date_range("2019-12-01 01:00", "2019-12-02 01:00", freq="h", tz="Asia/Seoul"))
    months = month_completeness(pd.DataFrame({"station_id": 108, "observed_at": longer.sort_values()}))
    assert not months.set_index("month").loc["2019-12", "stub"]
