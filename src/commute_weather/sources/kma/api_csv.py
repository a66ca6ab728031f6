"""API Hub typ01 responses saved as comma-separated text: the typ01 field names as a header row
(`TM,STN,WD,WS,...,IX`), one data row per hour, as public pipelines save `kma_sfctm3` answers month by month.

The values are the API's, so the field rules are the typ01 reader's (FORMAT.md section 1: sentinels per
field, TA = -9.0 a real temperature, RN hourly in summer and 3-hourly in winter, WW as text): the rows go
through `typ01.records_from_typ01`, the same mapping as the API text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from commute_weather.sources.kma.errors import KmaFormatError
from commute_weather.sources.kma.portal_csv import read_table_with
from commute_weather.sources.kma.typ01 import COLUMNS, records_from_typ01

TEXT_FIELDS = frozenset({"TM", "WW", "CT"})


def is_api_csv(header: list[str]) -> bool:
    """A header row of typ01 field names (it starts with TM and STN, as every saved response does)."""
    return len(header) >= 2 and header[0].strip().lstrip("\ufeff") == "TM" and header[1].strip() == "STN"


def parse_api_csv(data: bytes, source: str) -> pd.DataFrame:
    """Parse one saved response into the shared record frame (see records.RECORD_COLUMNS)."""
    table = read_table_with(data, source, COLUMNS, "not a typ01 response saved as CSV: missing fields")
    raw: dict[str, object] = {}
    for name in COLUMNS:
        text = table[name]
        if name in TEXT_FIELDS:
            raw[name] = pd.Series(text.to_numpy(zero_copy_only=False), dtype="str")
            continue
        try:
            values = pc.cast(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), pa.float64())
        except pa.ArrowInvalid:
            bad = pd.to_numeric(pd.Series(text.to_pylist()), errors="coerce").isna()
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise KmaFormatError(
                f"{source}: row {row + 2} field {name} is not a number: {text[row].as_py()!r}"
            ) from None
        # An empty cell is the field's sentinel: the API never leaves a numeric field blank.
        raw[name] = pd.Series(values.to_numpy(zero_copy_only=False)).fillna(-9.0) + 0.0
    return records_from_typ01(pd.DataFrame(raw), source)
