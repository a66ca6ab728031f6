"""Atomic file writes: a reader (or a crashed run) never sees a half-written artifact.

Everything is written to a temporary file in the target's directory and renamed over the target, which
POSIX makes atomic within one filesystem.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it replaces `target`, on error it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, payload: Any) -> None:
    """Sorted keys and a trailing newline, so that equal content gives equal bytes (and clean diffs)."""
    write_text(target, json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_parquet(target: Path, frame: pd.DataFrame) -> None:
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
