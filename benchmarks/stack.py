"""Benchmark lock, build and local-export of the example stack against what users do without layers.

Baselines, measured in the same run on the same machine with the same (warm) uv cache:

* separate venvs: for each application, ``uv venv`` + ``uv pip install`` of everything the
  application needs (its own requirements and those of every layer below it), which is how an
  application ships its own Python environment without layers;
* ``cp -al`` of the built layers: the physical floor for an export (hard links only).

Disk: the bytes of the layered stack (every layer once) against the separate venvs (each app
carries its own copy), counting file sizes, not shared disk blocks, since that is what ships.

Usage: python benchmarks/stack.py [--rounds N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_projects" / "sklearn-stack"


def run(argv: list[str], cwd: Path) -> None:
    """Run a command, failing loudly with its output."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr}")


def timed(
    action: Callable[[], None], rounds: int, before: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``action`` over ``rounds`` runs (``before`` runs untimed each round)."""
    times = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tree_bytes(path: Path) -> int:
    """Total size of the regular files under ``path`` (hard links counted each time)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def find_uv() -> str:
    """The uv binary installed with envstacks."""
    from uv import find_uv_bin  # noqa: PLC0415 - only needed here

    return os.fspath(find_uv_bin())


def main() -> None:
    """Run the benchmark and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="envstacks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    project = work / "stack"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("_build", "_export", "dist", "_deploy")
    )
    envstacks = [sys.executable, "-m", "envstacks", "-q"]
    uv = find_uv()

    # Warm the uv cache and the runtime once, untimed, so every figure compares warm runs.
    run([*envstacks, "build", "--lock-if-needed"], project)
    runtime_python = project / "_build" / "cpython-3.12" / "bin" / "python3"

    lock_s = timed(lambda: run([*envstacks, "lock"], project), args.rounds)
    build_s = timed(lambda: run([*envstacks, "build", "--clean"], project), args.rounds)
    rebuild_s = timed(lambda: run([*envstacks, "build"], project), args.rounds)
    export_dir = work / "export"
    export_s = timed(
        lambda: run([*envstacks, "local-export", "--output-dir", str(export_dir)], project),
        args.rounds,
        before=lambda: shutil.rmtree(export_dir, ignore_errors=True),
    )
    floor_dir = work / "cp-al"
    cp_al_s = timed(
        lambda: run(["cp", "-al", str(project / "_build"), str(floor_dir)], work),
        args.rounds,
        before=lambda: shutil.rmtree(floor_dir, ignore_errors=True),
    )

    # Baseline: one self-contained venv per application, as users do without layers.
    spec = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["venvstacks"]
    runtime_reqs = spec["runtimes"][0]["requirements"]
    frameworks = {fw["name"]: fw for fw in spec["frameworks"]}

    def needs(app: dict[str, object]) -> list[str]:
        reqs = list(runtime_reqs)
        pending = list(app.get("frameworks", []))  # type: ignore[call-overload]
        while pending:
            fw = frameworks[pending.pop()]
            reqs += fw["requirements"]
            pending += fw.get("frameworks", [])
        return reqs + list(app["requirements"])  # type: ignore[call-overload]

    venvs = work / "venvs"

    def separate_venvs() -> None:
        for app in spec["applications"]:
            venv = venvs / app["name"]
            run([uv, "venv", "-q", "--python", str(runtime_python), str(venv)], work)
            run(
                [
                    uv,
                    "pip",
                    "install",
                    "-q",
                    "--python",
                    str(venv / "bin" / "python"),
                    "--exclude-newer",
                    spec["uv"]["exclude-newer"],
                    *needs(app),
                ],
                work,
            )

    venv_s = timed(
        separate_venvs, args.rounds, before=lambda: shutil.rmtree(venvs, ignore_errors=True)
    )

    layered_bytes = tree_bytes(project / "_build")
    venv_bytes = tree_bytes(venvs)
    apps = len(spec["applications"])
    print(
        f"example stack: {len(spec['runtimes'])} runtime, {len(frameworks)} frameworks, "
        f"{apps} apps; "
        f"median of {args.rounds} rounds, warm uv cache, {os.cpu_count()} cores"
    )
    print(f"{'step':34} {'seconds':>8}  ratio")
    print(f"{'separate venvs (uv venv + pip)':34} {venv_s:8.2f}  1.00 (baseline)")
    print(f"{'envstacks lock (every layer)':34} {lock_s:8.2f}  {lock_s / venv_s:.2f}x venvs")
    print(f"{'envstacks build --clean':34} {build_s:8.2f}  {build_s / venv_s:.2f}x venvs")
    print(
        f"{'envstacks build (nothing changed)':34} {rebuild_s:8.2f}  "
        f"{rebuild_s / venv_s:.2f}x venvs"
    )
    print(f"{'cp -al of the built layers':34} {cp_al_s:8.2f}  1.00 (export floor)")
    print(f"{'envstacks local-export':34} {export_s:8.2f}  {export_s / cp_al_s:.1f}x cp -al")
    print(
        f"disk: layered stack {layered_bytes / 1e6:.0f} MB vs "
        f"separate venvs {venv_bytes / 1e6:.0f} MB "
        f"({layered_bytes / venv_bytes:.2f}x)"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
