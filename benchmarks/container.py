"""The service's image: its size and what fills it, how long `make container` takes (cold: empty container
storage, the base image built too; warm: the base cached) and the container's cold start to ready beside
`bentoml serve` on the host.

    python -m benchmarks.container [--rounds 5] [--cold]

Run after `make package` (the bento of HEAD in the BentoML store). Builds with scripts/ci/build-image.sh,
as `make container` does; the container runs as deploy/base runs it (tests/containers.py). Cold starts:
from the start command to GET /readyz 200, rounds alternating container and host so machine noise hits
both; the table shows medians and the container/host ratio. --cold adds a build from an empty storage
(with no registry, the debootstrap base image: minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, console, median, save, table
from tests.containers import BUILD_SCRIPT, Engine, container_engine, run_args, wait_ready
from tests.servers import free_port, http_server

SITE_PACKAGES = "/app/.venv/lib/python3.11/site-packages"


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def timed_build(env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(BUILD_SCRIPT)], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"build-image.sh failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return time.perf_counter() - started


def container_start(engine: Engine, image: str) -> float:
    name = f"commute-comfort-bench-{os.getpid()}"
    port = free_port()
    engine.cli("rm", "-f", name, check=False)
    started = time.monotonic()
    try:
        engine.cli(*run_args(engine, image, name, port))
        wait_ready(engine, name, f"http://127.0.0.1:{port}")
        return time.monotonic() - started
    finally:
        engine.cli("rm", "-f", name, check=False)


def host_start(bento: str) -> float:
    port = free_port()
    command = ["bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as logs, http_server(command, port, ROOT, {}, log_dir=Path(logs)):
        return time.monotonic() - started


def megabytes(human: str) -> float:
    """docker/podman history's sizes ("964 MB", "1.2kB") in MB."""
    match = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", human.strip())
    if not match:
        return 0.0
    return float(match.group(1)) * {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}[match.group(2)]


def layers(engine: Engine, image: str) -> list[tuple[float, str]]:
    out = engine.cli("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image).stdout
    rows = [line.split("\t", 1) for line in out.splitlines() if "\t" in line]
    return sorted(((megabytes(size), created[:90]) for size, created in rows), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="also build from an empty container storage")
    args = parser.parse_args()
    engine = container_engine()
    sha = head()
    image = bento = f"commute_comfort:{sha}"
    builds: dict[str, float] = {}
    if args.cold:
        if engine.name != "podman":
            parser.error("--cold measures a build into an empty podman storage: podman only")
        with tempfile.TemporaryDirectory(dir=Path.home() / ".cache") as empty:
            cold_env = {"CONTAINER_CACHE": empty}
            builds["cold (empty storage, base built)"] = timed_build(cold_env)
            exports = subprocess.run([str(BUILD_SCRIPT), "--env"], env={**os.environ, **cold_env},
                                     capture_output=True, text=True, check=True).stdout  # fmt: skip
            storage = dict(item.split("=", 1) for item in exports.split()[1:])
            subprocess.run(["podman", "system", "reset", "--force"], env={**os.environ, **storage},
                           capture_output=True, check=False)  # fmt: skip
    builds["base image cached"] = timed_build(engine.env)
    inspected = engine.image(image)
    size_mb = inspected["Size"] / 1e6
    biggest = layers(engine, image)[:4]
    du = engine.shell(image, f"du -sm {SITE_PACKAGES}/* | sort -rn | head -8").splitlines()
    packages = [(float(line.split()[0]), line.split()[1].rsplit("/", 1)[-1]) for line in du if line.strip()]
    venv_mb = float(engine.shell(image, "du -sm /app/.venv").split()[0])
    starts: dict[str, list[float]] = {"container": [], "host": []}
    for _ in range(args.rounds):
        starts["container"].append(container_start(engine, image))
        starts["host"].append(host_start(bento))
    table(f"Image {image[:28]} ({engine.name})", ["measure", "value"],
          [("size (MB, uncompressed)", size_mb), ("virtualenv (MB)", venv_mb),
           *((f"build: {k} (s)", v) for k, v in builds.items())])  # fmt: skip
    table("Largest layers", ["MB", "created by"], [(mb, created) for mb, created in biggest])
    table("Largest packages in the virtualenv", ["MB", "package"],
          packages)  # fmt: skip
    ratio = median(starts["container"]) / median(starts["host"])
    table(f"Cold start to /readyz 200, median of {args.rounds} (container as deploy/base runs it)",
          ["", "container", "bentoml serve (host)", "container / host"],
          [("seconds", median(starts["container"]), median(starts["host"]), ratio)])  # fmt: skip
    payload: dict[str, Any] = {"image": image, "engine": engine.name, "size_mb": size_mb, "venv_mb": venv_mb,
                               "builds_s": builds, "layers": biggest, "starts_s": starts}  # fmt: skip
    console.print(f"saved {save('container', payload)}")


if __name__ == "__main__":
    main()
