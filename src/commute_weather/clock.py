"""The clock every KMA station reports in, and the calendar's seasons."""

from __future__ import annotations

import datetime as dt

# Korea Standard Time as KMA reports it: a fixed UTC+09:00. Not the "Asia/Seoul" zone, which brings in the
# 1987-88 summer time (+10:00) and the +08:27:52 local mean time before 1908.
KST = dt.timezone(dt.timedelta(hours=9))

# Meteorological seasons (DJF, MAM, JJA, SON), by month: the slices the forecasts are scored on and the
# sample's calibration tables use the same ones.
SEASONS: dict[int, str] = {
    12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn",
}  # fmt: skip
