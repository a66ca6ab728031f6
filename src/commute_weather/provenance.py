"""Where an artifact came from: the Git commit, content hashes and library versions."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

LIBRARIES = ("scikit-learn", "pandas", "numpy", "pandera", "bentoml")


def git_sha(cwd: Path | None = None) -> str:
    """HEAD's full SHA, with '-dirty' when tracked files differ from it; 'unknown' outside a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """A file's hash, read in chunks (md5 is what dvc.lock records; sha256 what metadata records)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def library_versions() -> dict[str, str]:
    """The interpreter as major.minor: wheels and pickles are per minor version, and a patch release
    changes no model byte (3.11.2 and 3.11.7 train identical model.pkl files), while the full version
    made the model metadata, and so the committed dvc.lock, differ on every machine with another patch."""
    major, minor, _ = platform.python_version_tuple()
    return {"python": f"{major}.{minor}"} | {name: version(name) for name in LIBRARIES}
