"""Where each dataset's pipeline outputs live, for the commands outside the pipeline (summary, report, gate,
packaging). dvc.yaml passes the same paths to the stages; a test checks that the two agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetPaths:
    name: str

    @property
    def ingest_stats(self) -> Path:
        return Path("metrics") / self.name / "ingest.json"

    @property
    def observations(self) -> Path:
        return Path("data") / "interim" / self.name / "observations.parquet"

    @property
    def validation(self) -> Path:
        return Path("reports") / self.name / "validation.json"

    @property
    def features(self) -> Path:
        return Path("data") / "features" / self.name / "dataset.parquet"

    @property
    def model(self) -> Path:
        return Path("models") / self.name / "model.pkl"

    @property
    def metadata(self) -> Path:
        return Path("models") / self.name / "metadata.json"

    @property
    def selection(self) -> Path:
        return Path("metrics") / self.name / "model_selection.json"

    @property
    def metrics(self) -> Path:
        return Path("metrics") / self.name / "metrics.json"

    @property
    def unseen(self) -> Path:
        """Leave-one-station-out figures (stage `unseen`, the served dataset only)."""
        return Path("metrics") / self.name / "unseen.json"

    @property
    def gate(self) -> Path:
        return Path("metrics") / self.name / "gate.json"

    @property
    def plots(self) -> Path:
        return Path("reports") / self.name / "plots"

    @property
    def predictions(self) -> Path:
        return Path("data") / "predictions" / self.name / "test.parquet"
