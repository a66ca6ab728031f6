"""Atomic writes: no stray or partial files in DVC outputs after a kill, and normal file modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from commute_weather import io

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    io.file_mode.cache_clear()
    yield
    os.umask(old)
    io.file_mode.cache_clear()


@pytest.mark.usefixtures("umask_022")
def test_written_files_get_0644_like_open_would(tmp_path: Path) -> None:
    io.write_text(tmp_path / "a.txt", "x")
    io.write_json(tmp_path / "m.json", {"rmse": 1.0})
    io.write_parquet(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}))
    for name in ("a.txt", "m.json", "t.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_a_stricter_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o077)
    io.file_mode.cache_clear()
    try:
        io.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
        io.file_mode.cache_clear()
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o600


def test_a_killed_write_leaves_only_a_temp_file_that_the_next_write_removes(tmp_path: Path) -> None:
    """SIGKILL mid-write: the target keeps its old content, the temp file stays until the next write."""
    target = tmp_path / "2024-01.txt"
    io.write_text(target, "old")
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from commute_weather import io\n"
        "with io.atomic_path(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert killed.returncode == -9
    leftovers = io.temp_files(target)
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".2024-01.txt.")
    assert target.read_text() == "old"  # never a partial target
    other = tmp_path / ".2024-02.txt.abc.tmp"  # another target's leftover is not this write's business
    other.write_text("x")
    io.write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".2024-02.txt.abc.tmp", "2024-01.txt"]


def test_dvc_ignores_the_temp_file_pattern() -> None:
    """So a leftover inside a directory output (data/raw, reports/plots) never changes its hash."""
    dvc = Path(sys.executable).parent / "dvc"
    for path in ("data/raw/sample/108/.2024-01.txt.k2j3h4.tmp", "reports/plots/.predictions.csv.x.tmp"):
        result = subprocess.run(
            [str(dvc), "check-ignore", path], cwd=REPO, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (path, result.stdout, result.stderr)
    data = "data/raw/sample/108/2024-01.txt"
    kept = subprocess.run([str(dvc), "check-ignore", data], cwd=REPO, capture_output=True, check=False)
    assert kept.returncode == 1
