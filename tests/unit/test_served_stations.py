"""Which stations the served model answers for: those it was trained on, others only on evidence; each answer
says whether the model saw the station, and /model lists them with their test figures."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from commute_weather.forecast.features import STATION_DESCRIPTORS, station_descriptors
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.handlers import RequestError, check_station, station_cards
from commute_weather.serving.packaging import unseen_station_evidence
from commute_weather.stations import KNOWN_STATIONS


def test_a_station_enters_the_features_by_where_it_is_not_by_its_id() -> None:
    found = station_descriptors(np.array([108, 184, 99999]))
    assert set(found) == set(STATION_DESCRIPTORS)
    jeju = KNOWN_STATIONS[184]
    assert [found[name][1] for name in STATION_DESCRIPTORS] == [
        jeju.latitude,
        jeju.longitude,
        jeju.altitude_m,
    ]
    assert found["latitude"][0] == pytest.approx(37.57, abs=0.01)  # Seoul
    assert all(np.isnan(found[name][2]) for name in STATION_DESCRIPTORS)  # not in the registry


def predictor(params, seen: set[int], unseen: bool) -> Predictor:  # type: ignore[no-untyped-def]
    return Predictor(
        model=None,  # type: ignore[arg-type]  # no model is called here
        commute=params.commute, featurize=params.featurize, comfort=params.comfort,
        seen_stations=frozenset(seen), answers_unseen=unseen,
    )  # fmt: skip


def test_a_station_the_model_never_saw_is_refused_naming_the_ones_it_knows(params) -> None:  # type: ignore[no-untyped-def]
    served = predictor(params, {108, 131}, unseen=False)
    check_station(served, 131)
    with pytest.raises(RequestError) as refused:
        check_station(served, 184, prefix="requests[3].")
    message = str(refused.value)
    assert message.startswith("requests[3].station_id: the served model was not trained on station 184")
    assert "108 Seoul, 131 Cheongju" in message


def test_with_unseen_stations_on_any_registry_station_is_answered(params) -> None:  # type: ignore[no-untyped-def]
    check_station(predictor(params, {108}, unseen=True), 184)


def test_a_model_saved_before_stations_were_recorded_answers_as_it_did(params) -> None:  # type: ignore[no-untyped-def]
    metadata = {"params": params.model_dump(mode="json", by_alias=True)}
    old = Predictor.from_artifacts(pickle.dumps(None), metadata)
    assert old.answers_for(184) and old.seen_stations == frozenset()
    new = Predictor.from_artifacts(
        pickle.dumps(None), metadata | {"stations": [108], "unseen_stations": False}
    )
    assert new.answers_for(108) and not new.answers_for(184)


def station(seen: bool, high: float) -> dict[str, object]:
    versus = {"rmse_change": -2.0, "low": -3.0, "high": high, "verdict": "improves"}
    return {"seen": seen, "rows": 700, "model_rmse": 8.0, "persistence_rmse": 10.0, "vs_persistence": versus}


def test_answering_unseen_stations_needs_a_detectable_win_at_every_unseen_one() -> None:
    assert (
        unseen_station_evidence({"by_station": {"108": station(True, -1.0), "184": station(False, -0.2)}})
        is None
    )
    failing = unseen_station_evidence(
        {"by_station": {"184": station(False, 0.3), "159": station(False, -1.0)}}
    )
    assert failing is not None and "184" in failing and "159" not in failing
    nothing = unseen_station_evidence({"by_station": {"108": station(True, -1.0)}})
    assert nothing is not None and "no station it was not trained on" in nothing


def test_the_model_card_lists_trained_and_tested_stations_with_their_figures(params) -> None:  # type: ignore[no-untyped-def]
    metrics = {"by_station": {"108": station(True, -1.0), "184": station(False, -0.5)}}
    cards = station_cards(predictor(params, {108, 131}, unseen=False), metrics)
    assert [(c.station_id, c.name, c.seen) for c in cards] == [
        (108, "Seoul", True), (131, "Cheongju", True), (184, "Jeju", False)]  # fmt: skip
    assert cards[0].test is not None and cards[0].test["model_rmse"] == 8.0
    assert cards[1].test is None  # trained on, no test windows
