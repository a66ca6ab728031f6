"""The KMA ASOS station registry: every synoptic station's id, name, coordinates and altitude, and the
climate offsets the sample generator uses for the stations it simulates.

The registry is `asos-stations.csv` beside this module, copied untouched from `kma/stations/` (KMA's station
information service, 96 stations). It ships inside the package, so ingest, the contract, the features and
the service read the same list.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

REGISTRY_FILE: Final = "asos-stations.csv"


@dataclass(frozen=True)
class Station:
    station_id: int
    name: str  # English for the stations the project names in its texts, else the registry's Korean name
    latitude: float = float("nan")
    longitude: float = float("nan")
    altitude_m: float = float("nan")  # of the observation field: sea-level pressure reduction needs it
    # Offsets from the Seoul climate for the synthetic sample: coastal stations are windier and more humid,
    # southern ones warmer with wetter winters.
    temp_offset_c: float = 0.0
    wind_factor: float = 1.0
    humidity_offset_pct: float = 0.0
    precip_factor: float = 1.0


# The sample generator's stations: English names and climate offsets (coordinates come from the registry).
_SAMPLE_CLIMATE: Final[dict[int, dict[str, float | str]]] = {
    108: {"name": "Seoul"},
    112: {"name": "Incheon", "temp_offset_c": -0.4, "wind_factor": 1.45, "humidity_offset_pct": 6.0,
          "precip_factor": 0.85},
    119: {"name": "Suwon", "temp_offset_c": -0.3, "wind_factor": 0.85, "humidity_offset_pct": 3.0,
          "precip_factor": 0.95},
    131: {"name": "Cheongju", "temp_offset_c": 0.1, "wind_factor": 0.65, "humidity_offset_pct": 2.0,
          "precip_factor": 0.85},
    133: {"name": "Daejeon", "temp_offset_c": 0.6, "wind_factor": 0.75, "humidity_offset_pct": 3.0,
          "precip_factor": 0.95},
    143: {"name": "Daegu", "temp_offset_c": 2.0, "wind_factor": 0.95, "humidity_offset_pct": -4.0,
          "precip_factor": 0.75},
    156: {"name": "Gwangju", "temp_offset_c": 1.5, "wind_factor": 0.85, "humidity_offset_pct": 4.0,
          "precip_factor": 0.95},
    159: {"name": "Busan", "temp_offset_c": 2.8, "wind_factor": 1.4, "humidity_offset_pct": 0.0,
          "precip_factor": 1.05},
}  # fmt: skip


# English names of the other stations the real datasets hold (the registry has Korean names).
_ENGLISH_NAMES: Final[dict[int, str]] = {101: "Chuncheon", 136: "Andong", 146: "Jeonju", 184: "Jeju"}


def parse_registry(text: str) -> dict[int, Station]:
    """The registry CSV (stn_id,name_ko,latitude,longitude,altitude_m) as stations by id."""
    stations: dict[int, Station] = {}
    for row in csv.DictReader(io.StringIO(text)):
        station_id = int(row["stn_id"])
        extra = _SAMPLE_CLIMATE.get(station_id, {})
        stations[station_id] = Station(
            station_id=station_id,
            name=str(extra.get("name", _ENGLISH_NAMES.get(station_id, row["name_ko"]))),
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            altitude_m=float(row["altitude_m"]),
            **{k: float(v) for k, v in extra.items() if k != "name"},
        )
    return stations


@cache
def registry() -> dict[int, Station]:
    """Every ASOS station in the registry, by id."""
    text = resources.files("commute_weather").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    return parse_registry(text)


# Read at import: the contract's `isin` and the service's request schema are built from it when their
# classes are defined. A 3.5 kB package file, parsed once.
KNOWN_STATIONS: Final[dict[int, Station]] = registry()


def station_name(station_id: int) -> str:
    """ "108 Seoul": the id and the registry's name, or the id alone for one it does not hold."""
    known = KNOWN_STATIONS.get(station_id)
    return f"{station_id} {known.name}" if known else str(station_id)
