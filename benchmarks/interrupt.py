"""How fast Ctrl-C stops ``publish``, against the time the whole publish takes.

Usage::

    python benchmarks/interrupt.py [--rounds 3] [--after 1.0] [--project DIR]
                                   [--envstacks BIN_DIR ...]

The project (default: ``example_projects/sklearn-stack``) is copied to a temporary folder and
built once with each envstacks given (a ``bin`` folder holding ``python`` and ``envstacks``;
default: the one running this script). Then, round after round and interleaved, it times

* a whole ``publish --force --format tar.xz`` (the baseline: what an interrupt can save);
* the same publish sent SIGINT ``--after`` seconds after its first pack starts: the time from
  the signal to the exit, the exit status, and the temporaries (``.envstacks-tmp.*``) left in
  the output and build folders.

and prints the medians, the stop time as a fraction of the whole publish.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "example_projects" / "sklearn-stack"
PUBLISH = ["publish", "--force", "--format", "tar.xz", "--output-dir"]


def _prepare(bin_dir: Path, project: Path, folder: Path) -> None:
    ignore = shutil.ignore_patterns("_build", "dist", "_deploy", "_export", ".envstacks*")
    shutil.copytree(project, folder, ignore=ignore)
    subprocess.run(
        [str(bin_dir / "envstacks"), "build", "-q"], cwd=folder, check=True, capture_output=True
    )


def _whole(bin_dir: Path, folder: Path, output: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "envstacks"), *PUBLISH, str(output)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _interrupted(bin_dir: Path, folder: Path, output: Path, after: float) -> tuple[float, int, int]:
    """(seconds from SIGINT to exit, exit status, temporaries left)."""
    run = subprocess.Popen(
        [str(bin_dir / "envstacks"), *PUBLISH, str(output)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    while "pack tar.xz..." not in run.stderr.readline():
        pass
    time.sleep(after)
    signalled = time.perf_counter()
    run.send_signal(signal.SIGINT)
    run.communicate()
    stopped = time.perf_counter() - signalled
    left = [
        path
        for place in (output, folder / "_build")
        if place.exists()
        for path in place.rglob(".envstacks-tmp.*")
    ]
    for path in left:  # the next round starts clean
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return stopped, run.returncode, len(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--after", type=float, default=1.0, help="seconds into the first pack")
    parser.add_argument("--project", type=Path, default=EXAMPLE)
    parser.add_argument(
        "--envstacks",
        action="append",
        type=Path,
        metavar="BIN_DIR",
        help="a bin folder with python and envstacks (repeatable; default: this interpreter's)",
    )
    args = parser.parse_args()
    bins = args.envstacks or [Path(sys.executable).parent]
    whole: dict[Path, list[float]] = {}
    stops: dict[Path, list[tuple[float, int, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="envstacks-interrupt-") as tmp:
        folders = {bin_dir: Path(tmp) / f"stack{index}" for index, bin_dir in enumerate(bins)}
        for bin_dir, folder in folders.items():
            _prepare(bin_dir, args.project, folder)
        for round_ in range(args.rounds):
            for bin_dir, folder in folders.items():
                output = Path(tmp) / f"out{round_}-{folder.name}"
                whole.setdefault(bin_dir, []).append(_whole(bin_dir, folder, output))
                stop = _interrupted(bin_dir, folder, output, args.after)
                stops.setdefault(bin_dir, []).append(stop)
    for bin_dir in bins:
        full = statistics.median(whole[bin_dir])
        stop = statistics.median(item[0] for item in stops[bin_dir])
        statuses = sorted({item[1] for item in stops[bin_dir]})
        left = max(item[2] for item in stops[bin_dir])
        print(f"{bin_dir} (median of {args.rounds} rounds)")
        print(f"  whole publish --force --format tar.xz  {full:6.2f} s")
        print(f"  SIGINT to exit                         {stop:6.2f} s  ({stop / full:.2f}x)")
        print(f"  exit status {statuses}, temporaries left at most {left}")


if __name__ == "__main__":
    main()
