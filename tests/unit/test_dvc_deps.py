"""dvc.yaml lists, for every stage, all the project code the stage runs: a change to any module a stage
imports (directly or through other modules) must re-run it, or `dvc repro` silently keeps stale outputs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PACKAGE = REPO / "src" / "commute_weather"
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
# A dataset's `input` is its source's own code or data (the generator, the API client, a folder of exports):
# a dependency of the datasets that use that source only.
INPUTS = [d["input"] for d in yaml.safe_load((REPO / "params.yaml").read_text())["datasets"].values()]


def module_file(name: str) -> Path | None:
    """The file of a project module (`commute_weather.x.y`), or None for anything else."""
    if not name.startswith("commute_weather"):
        return None
    path = REPO / "src" / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports(path: Path) -> set[Path]:
    """Project modules a file imports (top-level and function-level imports alike)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            file = module_file(name)
            if file is not None and file.exists():
                found.add(file)
    return found


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imports(path) - seen)
    return seen


def test_the_import_walk_finds_indirect_imports() -> None:
    reached = closure(PACKAGE / "pipeline" / "train.py")
    assert PACKAGE / "forecast" / "split.py" in reached  # direct
    assert PACKAGE / "contracts" / "observations.py" in reached  # through forecast/features.py
    assert PACKAGE / "errors.py" in reached  # through cli.py


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_dependency(stage: str) -> None:
    body = STAGES[stage].get("do", STAGES[stage])
    module = re.search(r"python -m (commute_weather[\w.]+)", body["cmd"])
    assert module, body["cmd"]
    entry = module_file(module[1])
    assert entry is not None
    deps = [REPO / d for d in body["deps"] if "${" not in d]
    deps += [REPO / i for i in INPUTS] if "${item.input}" in body["deps"] else []
    covered = {p for p in closure(entry) if any(p == d or d in p.parents for d in deps)}
    missing = sorted(str(p.relative_to(REPO)) for p in closure(entry) - covered)
    missing = [m for m in missing if not m.endswith("__init__.py")]  # empty package markers
    assert not missing, f"stage {stage} runs {missing} but dvc.yaml does not list them as deps"


def test_the_declared_model_artifact_is_the_served_datasets_model() -> None:
    from dvc.repo import Repo  # noqa: PLC0415  (slow import)

    from commute_weather.config import load_params  # noqa: PLC0415
    from commute_weather.paths import DatasetPaths  # noqa: PLC0415

    with Repo(str(REPO)) as repo:
        artifact = repo.artifacts.read()["dvc.yaml"]["commute-comfort"]
    served = DatasetPaths(load_params(REPO / "params.yaml").serve.dataset)
    assert Path(artifact.path) == served.model and artifact.type == "model"


def test_the_paths_commands_read_are_the_ones_dvc_yaml_writes() -> None:
    """paths.DatasetPaths (summary, report, gate, packaging) and dvc.yaml (the stages) name each output."""
    from commute_weather.paths import DatasetPaths  # noqa: PLC0415

    text = (REPO / "dvc.yaml").read_text()
    template = DatasetPaths("${key}")
    names = [n for n in dir(DatasetPaths) if isinstance(getattr(DatasetPaths, n), property)]
    assert len(names) >= 9
    served = DatasetPaths("${serve.dataset}")  # a stage of the served dataset only (unseen)
    for name in names:
        paths = {getattr(template, name).as_posix(), getattr(served, name).as_posix()}
        assert any(p in text for p in paths), name
