"""Package an approved model: save it to the BentoML model store with the metadata that explains it, then
build the bento from bentofile.yaml, both versioned with the Git SHA.

    python -m commute_weather.serving.packaging [--params params.yaml] [--reference-rev main] [--allow-dirty]

packages the model of the dataset named by `serve.dataset` in params.yaml (a real one). Refuses when the
gate does not approve that model. With --reference-rev the gate's regression check is the one
`python -m commute_weather.forecast.gate --reference-rev` runs (gate.gate_against_revision): the revision's
test predictions, read through DVC, against this model's, so only a detectable RMSE increase (the paired
block-bootstrap interval above zero) larger than gate.max_rmse_regression is refused; when they cannot be
read, the point increase alone decides and the output says so and why. On a tree with uncommitted changes
it refuses too, since a bento named after a commit must hold that commit's code; --allow-dirty versions it
`<sha>-dirty`.

It also refuses a model that is not the one evaluated: the model and metrics files must be the outputs
dvc.lock records (same md5), and `dvc status` must be clean for the stages that produce them. A model
retrained or copied by hand is caught here, though Git sees no change in DVC-tracked files. The model's
sha256 goes into the metadata saved with it (the service checks it at load and shows it on /model).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
from pathlib import Path
from typing import Any

import yaml

from commute_weather import io
from commute_weather.cli import StageError, console, results, run
from commute_weather.config import load_params
from commute_weather.forecast.gate import gate_against_revision, gate_table
from commute_weather.paths import DatasetPaths
from commute_weather.provenance import file_digest, git_sha

MODEL_NAME = "commute_comfort"
MODEL_FILE = "model.pkl"


def bento_version(allow_dirty: bool) -> str:
    sha = git_sha()
    if sha == "unknown":
        raise StageError("not inside a Git checkout: a bento is versioned by the commit it was built from")
    if sha.endswith("-dirty") and not allow_dirty:
        raise StageError(
            "the working tree has uncommitted changes, so no commit describes this bento. Commit first, "
            "or pass --allow-dirty to build one versioned '<sha>-dirty' for local use"
        )
    return sha


def lock_outputs(lock_file: Path) -> dict[str, tuple[str, str | None]]:
    """Every stage output in dvc.lock: path (relative to the repository) -> (stage, md5)."""
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
    return {
        str(Path(out["path"])): (stage, out.get("md5"))
        for stage, entry in (lock.get("stages") or {}).items()
        for out in entry.get("outs") or []
    }


def check_evaluated(files: list[Path], root: Path) -> list[str]:
    """Refuse files that are not the pipeline outputs dvc.lock records, or a pipeline that is not up to date
    for them: what is packaged must be what `evaluate` measured. Returns the stages that produced them."""
    lock_file = root / "dvc.lock"
    if not lock_file.exists():
        raise StageError(f"no {lock_file}: package only what the pipeline produced; run `dvc repro` first")
    outputs = lock_outputs(lock_file)
    stages = []
    for path in files:
        relative = str(path.resolve().relative_to(root.resolve()))
        if relative not in outputs:
            raise StageError(
                f"{relative} is not a stage output in dvc.lock: package only what the pipeline produced "
                "(run `dvc repro`)"
            )
        stage, md5 = outputs[relative]
        actual = file_digest(root / relative, "md5")
        if actual != md5:
            raise StageError(
                f"{relative} is not the file stage '{stage}' produced (md5 {actual}, dvc.lock has {md5}): "
                "it was not evaluated. Run `dvc repro` (then commit dvc.lock) before packaging"
            )
        stages.append(stage)
    from dvc.repo import Repo  # noqa: PLC0415  (slow to import; only this check needs it)

    with Repo(str(root)) as repo:
        changed = repo.status(targets=sorted(set(stages)), with_deps=True)
    if changed:
        raise StageError(
            f"the pipeline is not up to date for {', '.join(str(f) for f in files)} (dvc status: "
            f"{', '.join(sorted(changed))} changed): run `dvc repro` (then commit dvc.lock) before packaging"
        )
    return stages


def unseen_station_evidence(metrics: dict[str, Any]) -> str | None:
    """Why the model may not answer for stations it never saw (serve.unseen_stations), or None when its own
    test year shows it beating persistence detectably (the paired interval wholly below zero) at every
    station it was not trained on."""
    unseen = {s: f for s, f in metrics.get("by_station", {}).items() if not f.get("seen", True)}
    if not unseen:
        return "its test year holds no station it was not trained on, so nothing shows how it does on one"
    failing = [s for s, f in sorted(unseen.items()) if not f["vs_persistence"]["high"] < 0]
    if failing:
        return f"it is not detectably better than persistence at the unseen stations {', '.join(failing)}"
    return None


def save_model(model_path: Path, metadata: dict[str, Any], version: str) -> str:
    import bentoml  # noqa: PLC0415  (slow to import; only packaging needs it)
    from bentoml.exceptions import NotFound  # noqa: PLC0415

    tag = f"{MODEL_NAME}:{version}"
    with contextlib.suppress(NotFound):  # the same commit gives the same model: replace, never duplicate
        bentoml.models.delete(tag)
    labels = {"git_sha": metadata["git_sha"], "model": metadata["model"], "gate": "approved"}
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as model_ref:
        shutil.copyfile(model_path, model_ref.path_of(MODEL_FILE))
    return tag


def build_bento(bentofile: Path, version: str) -> tuple[str, Path]:
    import bentoml  # noqa: PLC0415
    from bentoml.exceptions import NotFound  # noqa: PLC0415

    with contextlib.suppress(NotFound):
        bentoml.bentos.delete(f"{MODEL_NAME}:{version}")
    context = bentofile.parent / "src"  # the package at the bento's import root
    bento = bentoml.bentos.build_bentofile(str(bentofile), version=version, build_ctx=str(context))
    return str(bento.tag), Path(bento.path_of("env/docker/Dockerfile"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--bentofile", type=Path, default=Path("bentofile.yaml"))
    parser.add_argument(
        "--reference-rev",
        help="Git revision with the approved model's metrics and test predictions (regression check)",
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="package uncommitted work as '<sha>-dirty'"
    )
    parser.add_argument("--model-only", action="store_true", help="save to the model store, build no bento")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        paths = DatasetPaths(params.serve.dataset)
        check_evaluated([paths.model, paths.metadata, paths.metrics], Path.cwd())
        metrics = io.read_json(paths.metrics)
        gate = gate_against_revision(metrics, params, params.serve.dataset, args.reference_rev, "package")
        results.print(gate_table(gate))
        if not gate["approved"]:
            failed = ", ".join(c["check"] for c in gate["checks"] if not c["passed"])
            raise StageError(f"refusing to package a model the gate did not approve (failed: {failed})")
        if params.serve.unseen_stations and (why := unseen_station_evidence(metrics)):
            raise StageError(f"serve.unseen_stations is true, but {why}: set it to false")
        version = bento_version(args.allow_dirty)
        # The commit is recorded here, not by train: a commit-dependent pipeline output would change
        # dvc.lock on every rerun. This commit's dvc.lock pins the exact model and data hashes.
        metadata = io.read_json(paths.metadata) | {
            "git_sha": version,
            "dataset": params.serve.dataset,
            "metrics": metrics,
            "gate": gate,
            "model_sha256": file_digest(paths.model),
            "unseen_stations": params.serve.unseen_stations,
        }
        model_tag = save_model(paths.model, metadata, version)
        console.print(f"saved model {model_tag}")
        if args.model_only:
            return
        bento_tag, dockerfile = build_bento(args.bentofile, version)
        results.print(f"bento: {bento_tag}\nDockerfile: {dockerfile}")
        results.print(f"containerize: bentoml containerize {bento_tag} --image-tag {MODEL_NAME}:{version}")

    run("package", body)


if __name__ == "__main__":
    main()
