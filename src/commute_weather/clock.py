"""The clock every KMA station reports in."""

from __future__ import annotations

import datetime as dt

# Korea Standard Time as KMA reports it: a fixed UTC+09:00. Not the "Asia/Seoul" zone, which brings in the
# 1987-88 summer time (+10:00) and the +08:27:52 local mean time before 1908.
KST = dt.timezone(dt.timedelta(hours=9))
