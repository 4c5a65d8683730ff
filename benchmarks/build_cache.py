"""Benchmark fresh builds of precompiled layers: the pyc cache, and compiling on every core.

On the example stack (``example_projects/sklearn-stack``, warm uv cache), each round builds
from an empty build folder, interleaved, in this order:

* ``precompile = false``: nothing compiled (the baseline of the first ratio);
* precompiled, with a warm pyc cache (what a developer's next fresh build costs);
* precompiled, with an empty pyc cache, on every usable core;
* the same on one core (``sched_setaffinity``: the compiling workers follow the affinity);

and prints medians and two ratios: warm cache ÷ ``precompile = false`` (goal ≤ 1.25), and cold
on every core ÷ cold on one core.

Usage: python benchmarks/build_cache.py [--rounds N] [--keep DIR]
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_projects" / "sklearn-stack"


def build(project: Path, env: dict[str, str], *, one_core: bool = False) -> float:
    """Seconds of one ``envstacks build`` from an empty build folder."""
    shutil.rmtree(project / "_build", ignore_errors=True)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()

    def pin() -> None:
        os.sched_setaffinity(0, {min(cores)})

    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", "-q", "build"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=pin if one_core and cores else None,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="envstacks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    precompiled, plain = work / "precompiled", work / "plain"
    for project in (precompiled, plain):
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(
            EXAMPLE, project, ignore=shutil.ignore_patterns("_build", "_export", "dist", "_deploy")
        )
    text = (plain / "pyproject.toml").read_text()
    (plain / "pyproject.toml").write_text(
        text.replace("[tool.venvstacks]\n", "[tool.venvstacks]\nprecompile = false\n", 1)
    )
    warm_cache, cold_cache = work / "pyc-warm", work / "pyc-cold"
    warm = {**os.environ, "ENVSTACKS_PYC_CACHE_DIR": str(warm_cache)}

    def cold() -> dict[str, str]:
        shutil.rmtree(cold_cache, ignore_errors=True)
        return {**os.environ, "ENVSTACKS_PYC_CACHE_DIR": str(cold_cache)}

    # Untimed: the lock, the uv cache, the runtime and the warm pyc cache.
    for project in (precompiled, plain):
        subprocess.run(
            [sys.executable, "-m", "envstacks", "-q", "build", "--lock-if-needed"],
            cwd=project,
            env=warm,
            check=True,
            capture_output=True,
        )
    times: dict[str, list[float]] = {"plain": [], "warm": [], "cold": [], "cold1": []}
    for _round in range(args.rounds):
        times["plain"].append(build(plain, warm))
        times["warm"].append(build(precompiled, warm))
        times["cold"].append(build(precompiled, cold()))
        times["cold1"].append(build(precompiled, cold(), one_core=True))
    median = {name: statistics.median(values) for name, values in times.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"example stack, fresh builds, median of {args.rounds} interleaved rounds, "
        f"warm uv cache, {cores} usable cores"
    )
    rows = [
        ("precompile = false", "plain", "1.00 (baseline)"),
        ("precompiled, warm pyc cache", "warm", f"{median['warm'] / median['plain']:.2f}x"),
        ("precompiled, cold cache, all cores", "cold", f"{median['cold'] / median['cold1']:.2f}x"),
        ("precompiled, cold cache, 1 core", "cold1", "1.00 (baseline of the line above)"),
    ]
    print(f"{'build':36} {'seconds (each round)':>24}  ratio")
    for label, name, ratio in rows:
        each = " ".join(f"{value:.2f}" for value in times[name])
        print(f"{label:36} {median[name]:6.2f} ({each:>14})  {ratio}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
