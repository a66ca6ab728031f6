"""`make mutate`: a mutation smoke check of the modules whose tests must catch a wrong score, feature, model
or verdict, with mutmut (configured in pyproject.toml `[tool.mutmut]`), and a table per module.

    python scripts/mutate.py [comfort features model gate] [--mutants 'GLOB ...']

`--mutants '*calibrate* *history_grid*'` (make: MUTANTS=...) runs only the mutants of those modules whose
names match one of the patterns, e.g.
the functions a change touched: on this 2-core machine comfort and gate take ~5 min, features and model
(whose mutants run the trained-model tests) about two hours.

Every run starts from a fresh `mutants/` directory, so the figures always describe the current source and
tests. mutmut runs the fast tests that `[tool.mutmut] pytest_add_cli_args_test_selection` lists, only those
that reach the mutated function, one forked process per mutant and one per core. `OMP_NUM_THREADS=1` (the
Makefile sets it) is required: a child forked after the test run warmed up OpenMP's thread pool (the
gradient boosting) spins instead of running, and survivors would be reported as timeouts.

Survivors are listed by name: `mutmut show NAME` prints the change, `mutmut apply NAME` writes it to src/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

MODULES = ("comfort", "features", "model", "gate")
PACKAGE = "commute_weather.forecast"  # where the mutated modules live


def meta_path(module: str) -> Path:
    return Path("mutants") / "src" / Path(*PACKAGE.split(".")) / f"{module}.py.meta"


def tally(module: str) -> tuple[Counter[str], list[str]]:
    """Statuses of one module's mutants (read from mutmut's exit codes the way mutmut reads them) and the
    names of its survivors."""
    from mutmut.stats import status_by_exit_code  # noqa: PLC0415  (mutmut's own reading of its results)

    results: dict[str, int | None] = json.loads(meta_path(module).read_text())["exit_code_by_key"]
    status = {name: status_by_exit_code[code] for name, code in results.items()}
    survivors = sorted((n for n, s in status.items() if s == "survived"), key=lambda n: (len(n), n))
    return Counter(status.values()), survivors


def table(modules: list[str]) -> list[str]:
    names = ("mutants", "killed", "survived", "timeout", "no tests", "other", "not run", "survival rate")
    header = f"{'module':<10} " + " ".join(names)
    lines = [header, "-" * len(header)]
    totals: Counter[str] = Counter()
    for module in modules:
        counts, _ = tally(module)
        totals += counts
        lines.append(row(module, counts))
    if len(modules) > 1:
        lines += ["-" * len(header), row("all", totals)]
    lines.append(
        "survival rate = (survived + no tests) / mutants run: a mutant no selected test reaches survives too"
    )
    return lines


def row(name: str, counts: Counter[str]) -> str:
    total = sum(counts.values())
    skipped = counts["not checked"]
    run = total - skipped
    other = run - sum(counts[k] for k in ("killed", "survived", "timeout", "no tests"))
    rate = f"{(counts['survived'] + counts['no tests']) / run:.1%}" if run else "-"
    return (
        f"{name:<10} {total:>7} {counts['killed']:>6} {counts['survived']:>8} {counts['timeout']:>7} "
        f"{counts['no tests']:>8} {other:>5} {skipped:>7} {rate:>13}"
    )  # aligned under `names` in `table`


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", default=list(MODULES), help=f"any of {', '.join(MODULES)}")
    parser.add_argument(
        "--mutants",
        default="*",
        help="only the mutants whose name matches one of these (fnmatch, space-separated)",
    )
    parser.add_argument("--table-only", action="store_true", help="print the last run's table, run nothing")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"not a mutated module: {', '.join(unknown)} (choose from {', '.join(MODULES)})")
    modules = [m for m in MODULES if m in args.modules]
    if not args.table_only:
        shutil.rmtree("mutants", ignore_errors=True)
        started = time.monotonic()
        names = [f"{PACKAGE}.{m}.{glob}" for m in modules for glob in args.mutants.split()]
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", *names], check=False)
        print(f"\nmutmut run {' '.join(modules)}: {time.monotonic() - started:.0f} s, exit {run.returncode}")
        if run.returncode != 0:
            return run.returncode
    print()
    print("\n".join(table(modules)))
    for module in modules:
        _, survivors = tally(module)
        if survivors:
            print(f"\nsurvivors in {module}.py (`mutmut show NAME`):")
            print("\n".join(f"  {name}" for name in survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
