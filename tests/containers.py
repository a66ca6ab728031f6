"""Run the service's image as deploy/base runs it, with Docker or podman, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ROOT / "deploy/base/deployment.yaml"
BUILD_SCRIPT = ROOT / "scripts/ci/build-image.sh"
PODMAN_TOOLS = ("podman", "buildah", "skopeo", "runc")


class NoEngineError(RuntimeError):
    """Neither a Docker engine nor podman and its tools: the message names what is missing."""


@dataclass(frozen=True)
class Engine:
    """docker or podman, with the environment that makes podman see the storage build-image.sh builds into."""

    name: str
    env: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [self.name, *args]
        environment = {**os.environ, **self.env}
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def shell(self, image: str, script: str) -> str:
        """What `sh -c script` prints in a throwaway container of the image (as the image's user)."""
        return self.cli("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script).stdout

    def image(self, image: str) -> dict[str, Any]:
        inspected: dict[str, Any] = json.loads(self.cli("image", "inspect", image).stdout)[0]
        return inspected


def container_engine() -> Engine:
    """docker when a Docker engine answers; else podman (NoEngineError naming the tools it lacks)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        return Engine("docker")
    missing = [tool for tool in PODMAN_TOOLS if not shutil.which(tool)]
    if missing:
        raise NoEngineError(
            f"no Docker engine and no {', '.join(missing)}: the image cannot be built or run here "
            "(Debian: apt-get install buildah podman runc uidmap skopeo debootstrap, as .ci/run does)"
        )
    exports = subprocess.run([str(BUILD_SCRIPT), "--env"], capture_output=True, text=True, check=True).stdout
    return Engine("podman", dict(item.split("=", 1) for item in shlex.split(exports.removeprefix("export "))))


def deployment_container() -> tuple[dict[str, Any], dict[str, Any]]:
    """deploy/base's pod spec and its one container."""
    pod: dict[str, Any] = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def run_args(engine: Engine, image: str, name: str, port: int, read_only: bool = True) -> list[str]:
    """`run` as the Deployment runs the container: its user and group, no capabilities, no privilege
    escalation, a read-only root with tmpfs at its volume mounts, its container port on 127.0.0.1 only."""
    pod, container = deployment_container()
    user = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    published = f"127.0.0.1:{port}:{container['ports'][0]['containerPort']}"
    args = ["run", "-d", "--name", name, "--user", user, "--cap-drop", "ALL"]
    args += ["--security-opt", "no-new-privileges", "-p", published]
    if read_only:
        args.append("--read-only")
        if engine.name == "podman":  # else podman adds its own tmpfs at /tmp, /var/tmp and /run
            args.append("--read-only-tmpfs=false")
    for mount in container["volumeMounts"]:
        args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777"]  # an emptyDir is world-writable
    return [*args, image]


def wait_ready(engine: Engine, name: str, url: str, timeout_s: float = 180) -> float:
    """Seconds until GET /readyz answers 200; the container's log in the error when it exits or hangs."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        # Status, not Running: under load podman has reported Running false for a container that had
        # started and never died (its event log: create, init, start, then only the test's remove), which
        # failed this wait with an empty log. Only a container that exited has no chance to become ready.
        status = engine.cli("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        if status in {"exited", "stopped", "dead"}:  # podman's and Docker's words
            state = engine.cli("inspect", "--format", "{{json .State}}", name, check=False).stdout.strip()
            logs = engine.cli("logs", name, check=False)
            raise RuntimeError(f"the container exited: {state}\n{(logs.stdout + logs.stderr)[-4000:]}")
        time.sleep(0.1)
    logs = engine.cli("logs", name, check=False)
    raise RuntimeError(f"not ready after {timeout_s} s:\n{(logs.stdout + logs.stderr)[-4000:]}")


@contextmanager
def running(engine: Engine, image: str, name: str, port: int, read_only: bool = True) -> Iterator[str]:
    """The container started as production runs it; yields its URL once ready, removes it afterwards."""
    engine.cli("rm", "-f", name, check=False)
    engine.cli(*run_args(engine, image, name, port, read_only))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(engine, name, url)
        yield url
    finally:
        engine.cli("rm", "-f", name, check=False)
