"""The layers of ARCHITECTURE.md hold: no module imports from a layer above its own (import-linter's layers
contract in pyproject.toml), and the contract is one that can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the package under root/src, with root's pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}  # ahead of the installed (editable) package
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_every_layer_imports_only_the_layers_below_it() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def copy_package(tmp_path: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "src" / "commute_weather", tmp_path / "src" / "commute_weather")
    return tmp_path / "src" / "commute_weather"


def test_an_upward_import_breaks_the_contract_and_is_named(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    comfort = package / "forecast" / "comfort.py"
    # the forecasting core reaching up into the BentoML app, three layers above it
    comfort.write_text(comfort.read_text() + "\nfrom commute_weather.serving import service  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "1 broken" in result.stdout
    assert "commute_weather.forecast.comfort -> commute_weather.serving.service" in result.stdout


def test_a_new_module_must_be_given_a_layer(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    (package / "helpers.py").write_text('"""A module nobody placed."""\n')
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "commute_weather.helpers" in result.stdout
