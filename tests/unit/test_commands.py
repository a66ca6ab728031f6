"""The `commute-weather` console script: its help lists every command, and it routes to the module's CLI."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from commute_weather.commands import COMMANDS, main

CONSOLE_SCRIPT = Path(sys.executable).with_name("commute-weather")


def test_help_lists_every_command_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listed = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in listed
    assert "Stage 4, train:" in listed  # the module docstring's first line, read without importing it


def test_every_command_is_a_module_with_a_main() -> None:
    for module in COMMANDS.values():
        assert callable(importlib.import_module(module).main), module


def test_an_unknown_command_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["trian"])
    assert exit_.value.code == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_the_installed_script_runs_a_command_and_names_it_in_usage() -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "gate", "--no-such-flag"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage: commute-weather gate" in result.stderr
