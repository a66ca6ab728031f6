"""`commute-weather COMMAND ...`: one entry point for every command the project has. Each command is a
module's own CLI (the same as `python -m commute_weather.<module>`, which dvc.yaml spells out); this only
routes to it, so `commute-weather train --help` and `python -m commute_weather.pipeline.train --help`
agree."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

# command -> the module whose main(argv) runs it
COMMANDS: dict[str, str] = {
    "ingest": "commute_weather.pipeline.ingest",
    "validate": "commute_weather.pipeline.validate",
    "featurize": "commute_weather.pipeline.featurize",
    "train": "commute_weather.pipeline.train",
    "evaluate": "commute_weather.pipeline.evaluate",
    "unseen": "commute_weather.pipeline.unseen",
    "summary": "commute_weather.pipeline.summary",
    "gate": "commute_weather.forecast.gate",
    "report": "commute_weather.reporting.pr_report",
    "monitor": "commute_weather.reporting.monitor",
    "retrain": "commute_weather.retrain",
    "package": "commute_weather.serving.packaging",
    "sample-calibration": "commute_weather.sources.sample_calibration",
}
PROG = "commute-weather"


def summary_line(module: str) -> str:
    """The first line of a module's docstring, read from its source: --help imports none of the commands
    (pandas, scikit-learn and BentoML take seconds to import)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin is not None, module
    docstring = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return docstring.split("\n\n")[0].replace("\n", " ")


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary_line(module)}" for name, module in COMMANDS.items())
    return (
        f"usage: {PROG} COMMAND [ARGS ...]\n\n"
        f"commands (`{PROG} COMMAND --help` for each one's arguments):\n{rows}\n"
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage(), end="")
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"{PROG}: unknown command {command!r}\n\n{usage()}", end="", file=sys.stderr)
        sys.exit(2)
    sys.argv[0] = f"{PROG} {command}"  # argparse names the command in usage and errors
    importlib.import_module(COMMANDS[command]).main(rest)


if __name__ == "__main__":
    main()
