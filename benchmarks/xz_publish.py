"""Time a first ``tar.xz`` publish of a stack against ``xz -6`` of the same tars, in one run.

A copy of the stack (by default the side-by-side stack of ``../shared/bench-venvstacks``, or
``--stack``, a ``venvstacks.toml`` or ``pyproject.toml``) is locked and built with the CLI
(``UV_CACHE_DIR`` from the environment), then each round, interleaved:

* **publish**: ``envstacks publish --format tar.xz`` into an empty folder with the archive
  cache off (every layer compressed): wall seconds, CPU seconds and peak RSS of the process;
* **the floor**: the tars that publish compressed (its archives decompressed once, after the
  first round) compressed again by the ``xz`` CLI at preset 6, one layer after another, on
  ``--threads`` threads (``xz -T``, which cuts blocks as envstacks does) and on one;
* with ``--zst``, the same publish with ``--format tar.zst``.

Prints medians and the ratios publish ÷ ``xz -T`` (how far from the floor on these cores),
publish CPU ÷ ``xz -T1`` CPU (what publish spends beyond compressing), and ``tar.zst`` ÷
``tar.xz`` publish. Needs the ``xz`` command.

Usage: python benchmarks/xz_publish.py [--stack SPEC] [--work DIR] [--rounds N] [--zst]
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
from dataclasses import dataclass
from pathlib import Path

SIDE_BY_SIDE = Path(__file__).resolve().parents[2] / "shared/bench-venvstacks/stack/venvstacks.toml"


@dataclass(frozen=True)
class Timing:
    """One process's wall seconds, CPU seconds (user + system) and peak RSS in MB."""

    wall: float
    cpu: float
    rss_mb: float


def measured(argv: list[str], *, cwd: Path | None = None, stdout: int | None = None) -> Timing:
    """Run ``argv`` and measure it (``os.wait4``: this child's own CPU and peak RSS)."""
    env = {**os.environ, "ENVSTACKS_ARCHIVE_CACHE_DIR": "off"}
    # stderr to a file, not a pipe: nothing reads a pipe while os.wait4 waits, and a chatty
    # child would block on a full one.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=stdout or subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
            sys.exit(f"{' '.join(argv)} failed ({process.returncode}):\n{stderr}")
    return Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def prepare(spec: Path, work: Path, envstacks: str) -> Path:
    """A locked and built copy of the stack in ``work``; its spec file."""
    copy = work / "stack"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(spec.parent, copy, ignore=shutil.ignore_patterns("_build", "requirements"))
    for step in ("lock", "build"):
        measured([envstacks, step, spec.name], cwd=copy)
    return copy / spec.name


def publish(envstacks: str, spec: Path, output: Path, fmt: str) -> Timing:
    """A publish of every layer into the empty folder ``output``."""
    shutil.rmtree(output, ignore_errors=True)
    argv = [envstacks, "publish", spec.name, "--output-dir", str(output), "--format", fmt]
    return measured(argv, cwd=spec.parent)


def xz_floor(tars: list[Path], threads: int) -> Timing:
    """``xz -6 -T threads`` of each tar in turn (output discarded): summed wall and CPU."""
    timings = []
    with open(os.devnull, "wb") as sink:
        for tar in tars:
            argv = ["xz", "-6", f"-T{threads}", "-c", str(tar)]
            timings.append(measured(argv, stdout=sink.fileno()))
    return Timing(
        sum(t.wall for t in timings), sum(t.cpu for t in timings), max(t.rss_mb for t in timings)
    )


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", type=Path, default=SIDE_BY_SIDE, help="the stack's spec file")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--zst", action="store_true", help="also publish tar.zst")
    args = parser.parse_args()
    if shutil.which("xz") is None:
        sys.exit("needs the xz command")
    envstacks = shutil.which("envstacks") or sys.exit("needs envstacks on PATH")
    work = args.work or Path(tempfile.mkdtemp(prefix="envstacks-xz-publish-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = prepare(args.stack.resolve(), work, envstacks)
    names = ["publish tar.xz", f"xz -6 -T{args.threads}", "xz -6 -T1"]
    names += ["publish tar.zst"] if args.zst else []
    results: dict[str, list[Timing]] = {name: [] for name in names}
    tars: list[Path] = []
    for _round in range(args.rounds):
        output = work / "published"
        results["publish tar.xz"].append(publish(envstacks, spec, output, "tar.xz"))
        if not tars:  # the tar streams publish compressed: its archives, decompressed
            for archive in sorted(output.glob("*.tar.xz")):
                tar = work / archive.name.removesuffix(".xz")
                with tar.open("wb") as out:
                    subprocess.run(["xz", "-dc", str(archive)], stdout=out, check=True)
                tars.append(tar)
        results[f"xz -6 -T{args.threads}"].append(xz_floor(tars, args.threads))
        results["xz -6 -T1"].append(xz_floor(tars, 1))
        if args.zst:
            results["publish tar.zst"].append(publish(envstacks, spec, work / "zst", "tar.zst"))
    median = {
        name: Timing(
            *(statistics.median(getattr(t, f) for t in runs) for f in Timing.__annotations__)
        )
        for name, runs in results.items()
    }
    tar_mb = sum(tar.stat().st_size for tar in tars) / 1e6
    print(f"{len(tars)} layers, {tar_mb:.1f} MB of tar; medians of {args.rounds} round(s)")
    print(f"{'':18} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for name, timing in median.items():
        print(f"{name:18} {timing.wall:8.2f} {timing.cpu:8.2f} {timing.rss_mb:12.0f}")
    xz, floor, single = (median[name] for name in names[:3])
    print(f"publish ÷ xz -T{args.threads} (wall): {xz.wall / floor.wall:.2f}")
    print(f"publish ÷ xz -T1 (wall): {xz.wall / single.wall:.2f}")
    print(f"publish CPU ÷ xz -T1 CPU: {xz.cpu / single.cpu:.2f}")
    if args.zst:
        zst = median["publish tar.zst"]
        print(f"publish tar.zst ÷ publish tar.xz (wall): {zst.wall / xz.wall:.3f}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
