"""Atomic file writes: a reader (or a crashed run) never sees a half-written artifact.

Everything is written to a temporary file in the target's directory and renamed over the target, which
POSIX makes atomic within one filesystem. A run killed mid-write (SIGKILL skips every cleanup) leaves such a
temporary file behind: `.dvcignore` hides the pattern from DVC, so no output's hash changes, and the next
write of the same target removes it. Written files get the usual mode (0666 less the umask, 0644 by
default), not the owner-only mode of a temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

TEMP_SUFFIX = ".tmp"  # temporary files are `.<target name>.<random>.tmp`; .dvcignore lists the pattern


@cache
def file_mode() -> int:
    """0666 less the process umask: what `open()` would give a new file (os.umask can only be read by
    setting it, so it is set back at once, and read once)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def temp_files(target: Path) -> list[Path]:
    """Temporary files of earlier writes of `target` that never finished (a killed run)."""
    prefix = f".{target.name}."
    with suppress(FileNotFoundError):
        return [
            p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX)
        ]
    return []


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it replaces `target`, on error it is removed.
    Leftovers of an earlier, killed write of the same target are removed first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in temp_files(target):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())  # a writer that replaced the file (pyarrow) made a new inode
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
