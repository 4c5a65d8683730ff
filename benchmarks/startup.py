"""Start-up cost of the command line: --version and a no-op build + publish, against python itself.

Usage::

    python benchmarks/startup.py [--rounds 15] [--envstacks BIN_DIR ...]

The example stack (``example_projects/sklearn-stack``) is copied to a temporary folder and
built and published once with each envstacks given (a ``bin`` folder holding ``python`` and
``envstacks``; default: the one running this script). Then, round after round and
interleaved so that machine noise hits every command alike, it times

* ``python -c pass`` (the interpreter's own start-up: the baseline),
* ``envstacks --version``,
* ``envstacks build`` and ``envstacks publish`` with nothing to do,

and prints the medians, and a no-op build plus a no-op publish minus two interpreter
start-ups: what envstacks itself costs when there is nothing to do.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "example_projects" / "sklearn-stack"


def _commands(bin_dir: Path) -> dict[str, list[str]]:
    envstacks = str(bin_dir / "envstacks")
    return {
        "python -c pass": [str(bin_dir / "python"), "-c", "pass"],
        "envstacks --version": [envstacks, "--version"],
        "build (no-op)": [envstacks, "build", "-q"],
        "publish (no-op)": [envstacks, "publish", "-q"],
    }


def _prepare(bin_dir: Path, folder: Path) -> None:
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns("_build", "dist", "_deploy", "_export")
    )
    envstacks = str(bin_dir / "envstacks")
    for verb in ("build", "publish"):
        subprocess.run([envstacks, verb, "-q"], cwd=folder, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--envstacks",
        action="append",
        type=Path,
        metavar="BIN_DIR",
        help="a bin folder with python and envstacks (repeatable; default: this interpreter's)",
    )
    args = parser.parse_args()
    bins = args.envstacks or [Path(sys.executable).parent]
    with tempfile.TemporaryDirectory(prefix="envstacks-startup-") as tmp:
        folders = {bin_dir: Path(tmp) / f"stack{index}" for index, bin_dir in enumerate(bins)}
        for bin_dir, folder in folders.items():
            _prepare(bin_dir, folder)
        times: dict[tuple[Path, str], list[float]] = {}
        for _ in range(args.rounds):
            for bin_dir, folder in folders.items():
                for name, argv in _commands(bin_dir).items():
                    started = time.perf_counter()
                    subprocess.run(argv, cwd=folder, check=True, capture_output=True)
                    times.setdefault((bin_dir, name), []).append(time.perf_counter() - started)
    for bin_dir in bins:
        median = {name: statistics.median(times[bin_dir, name]) for name in _commands(bin_dir)}
        print(f"{bin_dir} (median of {args.rounds} rounds)")
        for name, value in median.items():
            ratio = value / median["python -c pass"]
            print(f"  {name:22s} {value * 1000:6.0f} ms  {ratio:5.1f}x python start-up")
        own = median["build (no-op)"] + median["publish (no-op)"] - 2 * median["python -c pass"]
        print(f"  no-op build + publish beyond two interpreter start-ups: {own * 1000:.0f} ms")


if __name__ == "__main__":
    main()
