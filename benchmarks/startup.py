"""Start-up cost of the command line: --version and a no-op build + publish, against python itself.

Usage::

    python benchmarks/startup.py [--rounds 15] [--envstacks BIN_DIR ...] [--no-bytecode-cache]
                                 [--stack SPEC]

The example stack (``example_projects/sklearn-stack``) is copied to a temporary folder and
built and published once with each envstacks given (a ``bin`` folder holding ``python`` and
``envstacks``; default: the one running this script). ``--stack`` names the spec file of
another stack instead, already built and published into its default folders, which every
envstacks given then uses in place. After one untimed run of each command, round after round
and interleaved so that machine noise hits every command alike, it times

* ``python -c pass`` (the interpreter's own start-up: the baseline),
* ``envstacks --version``,
* ``envstacks build`` and ``envstacks publish`` with nothing to do,

and prints the medians (wall clock and CPU time), and a no-op build plus a no-op publish
minus two interpreter start-ups: what envstacks itself costs when there is nothing to do.

Every command runs as an installed envstacks runs on its second call: with the modules'
bytecode cached. The cache goes to a temporary ``PYTHONPYCACHEPREFIX`` (the installs' own
folders stay untouched) and ``PYTHONDONTWRITEBYTECODE`` is dropped from the environment; a
shell that sets it would otherwise make every command compile every module it imports, each
time (about as long again as the rest of a no-op run). ``--no-bytecode-cache`` measures that
case: a read-only install whose bytecode was never written.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "example_projects" / "sklearn-stack"


def _commands(bin_dir: Path, spec: Path | None) -> dict[str, list[str]]:
    envstacks = str(bin_dir / "envstacks")
    named = [str(spec)] if spec is not None else []
    return {
        "python -c pass": [str(bin_dir / "python"), "-c", "pass"],
        "envstacks --version": [envstacks, "--version"],
        "build (no-op)": [envstacks, "build", "-q", *named],
        "publish (no-op)": [envstacks, "publish", "-q", *named],
    }


def _environment(tmp: Path, *, bytecode_cache: bool) -> dict[str, str]:
    """The commands' environment: bytecode cached in ``tmp`` (written once, then read), or never."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE"}}
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "no-pycache")  # empty: installs' pycs unused
    return env


def _prepare(bin_dir: Path, folder: Path, env: dict[str, str]) -> None:
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns("_build", "dist", "_deploy", "_export")
    )
    envstacks = str(bin_dir / "envstacks")
    for verb in ("build", "publish"):
        subprocess.run(
            [envstacks, verb, "-q"], cwd=folder, check=True, capture_output=True, env=env
        )


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
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module on every run, as from an install whose bytecode is not written",
    )
    parser.add_argument(
        "--stack",
        type=Path,
        metavar="SPEC",
        help="the spec file of a stack already built and published (used in place)",
    )
    args = parser.parse_args()
    bins = args.envstacks or [Path(sys.executable).parent]
    spec = args.stack.resolve() if args.stack else None
    with tempfile.TemporaryDirectory(prefix="envstacks-startup-") as tmp:
        env = _environment(Path(tmp), bytecode_cache=not args.no_bytecode_cache)
        if spec is not None:
            folders = dict.fromkeys(bins, spec.parent)
        else:
            folders = {bin_dir: Path(tmp) / f"stack{index}" for index, bin_dir in enumerate(bins)}
            for bin_dir, folder in folders.items():
                _prepare(bin_dir, folder, env)
        for bin_dir, folder in folders.items():  # untimed: bytecode written, caches warm
            for argv in _commands(bin_dir, spec).values():
                subprocess.run(argv, cwd=folder, check=True, capture_output=True, env=env)
        times: dict[tuple[Path, str], list[float]] = {}
        cpu: dict[tuple[Path, str], list[float]] = {}
        for _ in range(args.rounds):
            for bin_dir, folder in folders.items():
                for name, argv in _commands(bin_dir, spec).items():
                    used = _children_cpu()
                    started = time.perf_counter()
                    subprocess.run(argv, cwd=folder, check=True, capture_output=True, env=env)
                    times.setdefault((bin_dir, name), []).append(time.perf_counter() - started)
                    cpu.setdefault((bin_dir, name), []).append(_children_cpu() - used)
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
    for bin_dir in bins:
        stack = spec or EXAMPLE.name
        print(f"{bin_dir} on {stack} (median of {args.rounds} rounds, {cache}; wall, then CPU)")
        names = _commands(bin_dir, spec)
        wall = {name: statistics.median(times[bin_dir, name]) for name in names}
        busy = {name: statistics.median(cpu[bin_dir, name]) for name in names}
        for name, value in wall.items():
            ratio = value / wall["python -c pass"]
            print(
                f"  {name:22s} {value * 1000:6.0f} ms  {ratio:5.1f}x python start-up"
                f"  | CPU {busy[name] * 1000:6.0f} ms"
            )
        for label, median in (("wall clock", wall), ("CPU time", busy)):
            own = median["build (no-op)"] + median["publish (no-op)"] - 2 * median["python -c pass"]
            print(
                f"  no-op build + publish beyond two interpreter start-ups ({label}): "
                f"{own * 1000:.0f} ms"
            )


def _children_cpu() -> float:
    """User plus system CPU seconds of the finished child processes so far.

    On a machine shared with other jobs, CPU time moves far less with the load than the wall
    clock does (waiting for a core is not counted); both are printed.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
