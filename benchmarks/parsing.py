"""Parse speed: the project's typ01 and portal-CSV parsers against pyarrow's CSV reader on the same bytes.

typ01: the 60 monthly bodies of one station (2020-2024) from the sample generator, parsed one body at a
time as ingest does, and the same months as one body (per-call cost against per-row cost). pyarrow's
CSV reader cannot split typ01's space-aligned columns (runs of spaces are no CSV delimiter), so the
reference ("limit") is the least an Arrow-based parse does: the reader's lines, Arrow's whitespace
split and one numeric cast; the bare line read (the raw-read floor) and pandas' whitespace tokenizer
are shown too. Portal CSV: the real Cheongju 2022 export (cp949) from ../shared/kma/samples, against
pyarrow's full CSV parse of the same bytes (decoded from cp949, types inferred).
Each figure is the median of `--repeats` passes over all the bytes; ratios are to the reference.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks.common import ROOT, console, median, save, table
from commute_weather.sources.kma.portal_csv import parse_portal_csv
from commute_weather.sources.kma.typ01 import COLUMNS, parse_typ01
from commute_weather.sources.synthetic import generate

PORTAL_SAMPLE = ROOT.parent / "shared/kma/samples/OBS_ASOS_TIM_131_2022.csv"
NO_DELIMITER = "\x1f"  # never in these files: each line is one field
REFERENCE = "limit"


def typ01_bodies() -> list[bytes]:
    return [m.text.encode("cp949") for m in generate((108,), "2020-01", "2024-12", seed=20240101)]


def timed(passes: int, work: Callable[[], int]) -> tuple[float, int]:
    """Median seconds of a pass, and the rows one pass produced."""
    seconds, rows = [], 0
    for _ in range(passes):
        started = time.perf_counter()
        rows = work()
        seconds.append(time.perf_counter() - started)
    return median(seconds), rows


def pyarrow_lines(data: bytes) -> pa.Array:
    """The bytes as one string per line (typ01 bodies are ASCII, so UTF-8 reads them as cp949 would)."""
    options = pacsv.ParseOptions(delimiter=NO_DELIMITER, quote_char=False)
    read = pacsv.ReadOptions(column_names=["line"])
    convert = pacsv.ConvertOptions(column_types={"line": pa.string()})
    table = pacsv.read_csv(
        io.BytesIO(data), read_options=read, parse_options=options, convert_options=convert
    )
    return table.column("line").combine_chunks()


def lines_with_pyarrow(data: bytes) -> int:
    return len(pyarrow_lines(data))


def arrow_typ01(data: bytes) -> int:
    """Lines, whitespace split and one cast of the numeric fields to float64: nothing checked or mapped."""
    lines = pyarrow_lines(data)
    rows = lines.filter(pc.invert(pc.starts_with(lines, "#")))
    flat = pc.list_flatten(pc.utf8_split_whitespace(rows))
    numeric = np.array([i for i, name in enumerate(COLUMNS) if name not in {"TM", "WW", "CT"}])
    pc.cast(flat.take((np.arange(len(rows))[:, None] * len(COLUMNS) + numeric).ravel()), pa.float64())
    return len(rows)


def parse_typ01_rows(data: bytes) -> int:
    return len(parse_typ01(data.decode("cp949"), "bench"))


def whitespace_tokenize(data: bytes) -> int:
    text = data.decode("cp949")
    return len(pd.read_csv(io.StringIO(text), sep=r"\s+", comment="#", header=None, dtype=str, engine="c"))


def measure(name: str, data: list[bytes], passes: int, parsers: dict[str, Callable[[bytes], int]]
            ) -> list[dict[str, Any]]:  # fmt: skip
    size = sum(len(d) for d in data)
    results = []
    for parser, parse in parsers.items():
        console.print(f"{name}: {parser}")
        seconds, rows = timed(passes, lambda parse=parse: sum(parse(d) for d in data))
        results.append({"input": name, "parser": parser, "bytes": size, "rows": rows, "seconds": seconds,
                        "rows_per_s": rows / seconds, "mb_per_s": size / 2**20 / seconds})  # fmt: skip
    reference = next(r for r in results if r["parser"].startswith(REFERENCE))["seconds"]
    for r in results:
        r["time_vs_reference"] = r["seconds"] / reference
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    typ01_parsers = {
        "commute_weather parse_typ01 (records, units, sentinels)": parse_typ01_rows,
        "pandas whitespace tokenizer only": whitespace_tokenize,
        f"{REFERENCE}: pyarrow lines + Arrow whitespace split + numeric cast": arrow_typ01,
        "pyarrow lines only (raw-read floor)": lines_with_pyarrow,
    }
    bodies = typ01_bodies()
    results = measure("typ01, 60 monthly bodies", bodies, args.repeats, typ01_parsers)
    results += measure("typ01, the 60 months as one body", [b"".join(bodies)], args.repeats, typ01_parsers)
    if PORTAL_SAMPLE.exists():
        portal = [PORTAL_SAMPLE.read_bytes()]
        results += measure("portal CSV, Cheongju 2022", portal, args.repeats * 4, {
            "commute_weather parse_portal_csv": lambda d: len(parse_portal_csv(d, "bench")),
            f"{REFERENCE}: pyarrow read_csv (cp949, types inferred)": lambda d: pacsv.read_csv(
                io.BytesIO(d), read_options=pacsv.ReadOptions(encoding="cp949")).num_rows,
        })  # fmt: skip
    else:
        console.print(f"portal CSV skipped: {PORTAL_SAMPLE} is not there (it comes with ../shared)")
    columns = ["input / parser", "rows", "MB", "rows/s", "MB/s", "time vs limit"]
    table("Parse speed (median pass)", columns, [
        (f"{r['input']}: {r['parser']}", r["rows"], r["bytes"] / 2**20, r["rows_per_s"], r["mb_per_s"],
         r["time_vs_reference"]) for r in results
    ])  # fmt: skip
    save("parsing", {"results": results, "repeats": args.repeats})
    return results


if __name__ == "__main__":
    main()
