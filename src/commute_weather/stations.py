"""KMA ASOS stations this project knows: ids, names and the climate offsets the sample generator uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Station:
    station_id: int
    name: str
    # Offsets from the Seoul climate for the synthetic sample: coastal stations are windier and more humid,
    # southern ones warmer with wetter winters.
    temp_offset_c: float = 0.0
    wind_factor: float = 1.0
    humidity_offset_pct: float = 0.0
    precip_factor: float = 1.0


KNOWN_STATIONS: dict[int, Station] = {
    s.station_id: s
    for s in (
        Station(108, "Seoul"),
        Station(
            112, "Incheon", temp_offset_c=-0.4, wind_factor=1.45, humidity_offset_pct=6.0, precip_factor=0.85
        ),
        Station(
            119, "Suwon", temp_offset_c=-0.3, wind_factor=0.85, humidity_offset_pct=3.0, precip_factor=0.95
        ),
        Station(
            131, "Cheongju", temp_offset_c=0.1, wind_factor=0.65, humidity_offset_pct=2.0, precip_factor=0.85
        ),
        Station(
            133, "Daejeon", temp_offset_c=0.6, wind_factor=0.75, humidity_offset_pct=3.0, precip_factor=0.95
        ),
        Station(
            143, "Daegu", temp_offset_c=2.0, wind_factor=0.95, humidity_offset_pct=-4.0, precip_factor=0.75
        ),
        Station(
            156, "Gwangju", temp_offset_c=1.5, wind_factor=0.85, humidity_offset_pct=4.0, precip_factor=0.95
        ),
        Station(
            159, "Busan", temp_offset_c=2.8, wind_factor=1.4, humidity_offset_pct=0.0, precip_factor=1.05
        ),
    )
}
