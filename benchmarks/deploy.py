"""Benchmark deploy and local-export of precompiled layers against venvstacks' way and the floor.

The stack is built twice, with ``precompile`` on (the default) and off, and published: the
first as ``tar.zst`` (envstacks' default), the second as ``tar.xz`` without pyc files, which is
what venvstacks ships. Then, interleaved round by round on the same machine:

* **deploy**, end to end: ``envstacks deploy`` (one read per archive: verify while unpacking;
  postinstall compiles only what staging regenerated), unpacking in 2 worker processes (the
  default on 2 cores), in 2 threads, and in 1 worker;
  **venvstacks' procedure** as its docs give it (read the whole archive to check its sha256,
  ``tarfile`` ``extractall`` of the ``tar.xz``, then each layer's postinstall: ``pyvenv.cfg`` and
  ``compileall.compile_dir`` of ``lib`` in one process, runtime first); and **the floor**: GNU
  ``tar -x`` of an uncompressed tar of the tree envstacks deployed, pyc files included;
* the **first start** of every application right after each of those (the floor's tree is
  envstacks', so its start is the precompiled one), and on that tree without its pyc files
  (**cold**: what an application pays when nothing compiled it);
* ``envstacks deploy`` through the command line, and the same of another envstacks
  (``--baseline PATH``, e.g. the main branch's) in the same rounds: before/after figures of one
  run; each deploy is also given as a ratio of two floors timed in the same rounds, GNU
  ``tar -x`` of an uncompressed tar of the deployed tree and ``zstd -dc | tar -x`` of the same
  tar compressed, both read from the page cache;
* **local-export** (hard links, postinstall) against ``cp -al`` of the build folder, and
  local-export with nothing to do (its start-up and checks);
* archive **sizes** with and without pyc files in every built-in format (``--sizes``).

Usage::

    python benchmarks/deploy.py --stack example --rounds 5
    python benchmarks/deploy.py --stack large --rounds 3 --sizes
    python benchmarks/deploy.py --project path/to/stack --work /tmp/bench-deploy
    python benchmarks/deploy.py --stack bench --deploy-only --baseline /work/dev/bin/envstacks

``example`` is example_projects/sklearn-stack (published ``tar.zst``); ``large`` a runtime with
one framework layer holding pandas, pyarrow and scipy and an application importing them;
``bench`` the side-by-side stack of ``../shared/bench-venvstacks/stack`` (a standalone
``venvstacks.toml``, published ``tar.xz`` as venvstacks does; ``--project`` another copy).
``--deploy-only`` times only the deploys and their floors (no venvstacks procedure, first
starts, local-export, nor a build without pyc files). Both need PyPI (warm uv
cache: builds and publishes happen once, untimed). Applications run with byte-code writing
allowed (``PYTHONDONTWRITEBYTECODE`` unset), as on a user's machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_projects" / "sklearn-stack"
BENCH = REPO.parent / "shared" / "bench-venvstacks" / "stack"
LAYER_CONFIG = Path("share/venv/metadata/venvstacks_layer.json")
LARGE_SPEC = """\
[project]
name = "large-framework"
version = "0"

[tool.venvstacks.uv]
exclude-newer = "2026-11-01T00:00:00Z"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64", "linux_aarch64", "macosx_arm64", "win_amd64"]

[[tool.venvstacks.frameworks]]
name = "large"
runtime = "cpython-3.12"
requirements = ["pandas", "pyarrow", "scipy"]

[[tool.venvstacks.applications]]
name = "analyse"
frameworks = ["large"]
launch_module = "analyse.py"
requirements = []
"""
LARGE_APP = """\
import pandas, pyarrow, scipy.stats
frame = pandas.DataFrame({"x": range(100), "y": [v * v for v in range(100)]})
table = pyarrow.Table.from_pandas(frame)
print(table.num_rows, scipy.stats.pearsonr(frame.x, frame.y)[0] > 0.9)
"""
#: venvstacks' documented deployment procedure, run with the standard library only.
VENVSTACKS_DEPLOY = """\
import hashlib, json, os, subprocess, sys, tarfile
from pathlib import Path
publish, dest = Path(sys.argv[1]), Path(sys.argv[2])
layers = json.loads((publish / "__venvstacks__" / "venvstacks.json").read_text())["layers"]
dest.mkdir(parents=True, exist_ok=True)
for kind in ("runtimes", "frameworks", "applications"):
    for layer in layers.get(kind, []):
        data = (publish / layer["archive_name"]).read_bytes()
        assert len(data) == layer["archive_size"]
        assert hashlib.sha256(data).hexdigest() == layer["archive_hashes"]["sha256"]
        with tarfile.open(publish / layer["archive_name"]) as tar:
            tar.extractall(dest, filter="tar")
        env = dest / layer["install_target"]
        cfg = json.loads((env / "share/venv/metadata/venvstacks_layer.json").read_text())
        base = os.path.normpath(env / cfg["base_python"])
        if cfg["python"] != cfg["base_python"]:
            (env / "pyvenv.cfg").write_text(
                f"home = {os.path.dirname(base)}\\ninclude-system-site-packages = false\\n"
                f"version = {cfg['py_version']}\\nexecutable = {base}\\n"
            )
        code = "import compileall, sys; compileall.compile_dir(sys.argv[1], optimize=0, quiet=1)"
        subprocess.run([base, "-c", code, str(env / "lib")], check=True)
"""
#: ``envstacks deploy`` through the API, to choose the number of unpack workers (and, with
#: ``threads``, to unpack in threads only, as envstacks did before it used processes).
ENVSTACKS_DEPLOY = """\
import sys
from pathlib import Path
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying import DeployOptions
from envstacks.stages.deploying import unpack_workers as unpackers
from envstacks.floor.report import NullReporter
if sys.argv[4:] == ["threads"]:
    unpackers.PROCESS_MIN = 1 << 62
deploy(sys.argv[1], Path(sys.argv[2]), DeployOptions(jobs=int(sys.argv[3])),
       reporter=NullReporter())
"""
#: The deploy variants timed: label -> (unpack workers, extra argument).
VARIANTS = {
    "2 worker processes": (2, ""),
    "2 threads": (2, "threads"),
    "1 worker": (1, ""),
}


def run(argv: list[str], cwd: Path | None = None) -> None:
    """Run a command with byte-code writing allowed, failing loudly with its output."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, argv))}\n{result.stdout}\n{result.stderr}")


def envstacks(*args: str | Path, cwd: Path) -> None:
    """Run the envstacks command line of this checkout."""
    run([sys.executable, "-m", "envstacks", "-q", *map(str, args)], cwd=cwd)


def prepare(source: Path | None, folder: Path, *, precompile: bool) -> Path:
    """The project copied (or the large one written) into ``folder``, ``precompile`` set, built.

    Every layer gets ``precompile = true|false``; building again is a no-op once built.
    """
    if not folder.exists():
        _copy_project(source, folder)
        spec = next(
            path
            for path in (folder / "pyproject.toml", folder / "venvstacks.toml")
            if path.exists()
        )
        header = re.compile(
            r"^\[\[(tool\.venvstacks\.)?(runtimes|frameworks|applications)\]\]$", re.MULTILINE
        )
        value = "true" if precompile else "false"
        text = header.sub(lambda match: f"{match.group(0)}\nprecompile = {value}", spec.read_text())
        spec.write_text(text)
    envstacks("build", "--lock-if-needed", cwd=folder)
    return folder


def _copy_project(source: Path | None, folder: Path) -> None:
    if source is None:
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text(LARGE_SPEC)
        (folder / "analyse.py").write_text(LARGE_APP)
    else:
        ignore = shutil.ignore_patterns("_build", "_export", "dist", "_deploy", "_artifacts")
        shutil.copytree(source, folder, ignore=ignore)


def publish(project: Path, output: Path, fmt: str) -> Path:
    """Publish the built stack in ``fmt`` (once)."""
    if not (output / "__venvstacks__" / "venvstacks.json").exists():
        envstacks("publish", "--format", fmt, "--output-dir", output, cwd=project)
    return output


def archive_bytes(output: Path) -> int:
    """Bytes of the archives a manifest lists."""
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    return sum(layer["archive_size"] for layers in manifest["layers"].values() for layer in layers)


def apps(deployment: Path) -> list[tuple[Path, str]]:
    """``(python, launch module)`` of every application in a deployment."""
    found = []
    for layer in sorted(deployment.iterdir()):
        config_path = layer / LAYER_CONFIG
        if config_path.exists():
            config = json.loads(config_path.read_text())
            if config.get("launch_module"):
                found.append((layer / config["python"], config["launch_module"]))
    return found


def start_apps(deployment: Path) -> None:
    """Run every application once (the first start after a deploy)."""
    for python, module in apps(deployment):
        run([str(python), "-m", module], cwd=Path("/"))


class Clock:
    """Wall seconds of timed actions, per name."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.wall

    def time(self, name: str, action: Callable[[], None]) -> None:
        """Time ``action`` under ``name``."""
        start = time.perf_counter()
        action()
        self.wall.setdefault(name, []).append(time.perf_counter() - start)

    def median(self, name: str) -> float:
        """The median wall time of ``name``."""
        return statistics.median(self.wall[name])


def fresh(path: Path) -> Path:
    """``path``, removed if it exists (its parent created), the removal written back.

    ``sync`` puts every timed step after the removal of the previous tree on the same footing
    (no write-back of the last step's files during this one).
    """
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.sync()
    return path


def cached(*files: Path) -> None:
    """Read ``files`` so that the next step finds them in the page cache."""
    for file in files:
        with file.open("rb") as stream:
            while stream.read(1 << 20):
                pass


@dataclass(frozen=True)
class Setup:
    """What :func:`measure` times: the stacks, the format and the commands."""

    #: The stack built with precompiled layers (the one deployed).
    on: Path
    #: The stack built without pyc files (None: ``--deploy-only``).
    off: Path | None
    #: The archive format the deploys install.
    fmt: str
    #: Another envstacks command whose deploy is timed in the same rounds (``--baseline``).
    baseline: Path | None


def floors(work: Path, reference: Path) -> tuple[Path, Path]:
    """The uncompressed tar of the deployed ``reference`` tree, and that tar compressed by zstd."""
    floor, packed = work / "floor.tar", work / "floor.tar.zst"
    if not packed.exists():
        run(["tar", "-cf", str(floor), "-C", str(reference), "."])
        run(
            [
                "tar",
                "-cf",
                str(work / "cold.tar"),
                "--exclude=__pycache__",
                "-C",
                str(reference),
                ".",
            ]
        )
        run(["zstd", "-q", "-f", str(floor), "-o", str(packed)])
    return floor, packed


def time_floors(clock: Clock, work: Path, target: Path) -> None:
    """One round of both floors, their input in the page cache."""
    floor, packed = work / "floor.tar", work / "floor.tar.zst"
    fresh(target).mkdir()
    cached(floor)
    clock.time(FLOOR, lambda: run(["tar", "-xf", str(floor), "-C", str(target)]))
    fresh(target).mkdir()
    cached(packed)
    untar = f"zstd -dc {shlex.quote(str(packed))} | tar -xf - -C {shlex.quote(str(target))}"
    clock.time(ZSTD_FLOOR, lambda: run(["bash", "-o", "pipefail", "-c", untar]))


def time_cli_deploys(clock: Clock, setup: Setup, published: Path, target: Path) -> None:
    """One round of ``envstacks deploy`` from the command line: this checkout's, the baseline's."""
    commands = {CLI: [sys.executable, "-m", "envstacks"]}
    if setup.baseline is not None:
        commands[BASELINE] = [str(setup.baseline)]
    for label, command in commands.items():
        argv = [*command, "-q", "deploy", str(published), "--target", str(target)]
        fresh(target)
        cached(*(path for path in published.iterdir() if path.is_file()))
        clock.time(label, lambda argv=argv: run(argv))


#: Names of the rows timed in every mode.
FLOOR = "floor: tar -x"
ZSTD_FLOOR = "floor: zstd -dc | tar -x"
CLI = "envstacks deploy (command line)"
BASELINE = "baseline envstacks deploy (command line)"


def measure(work: Path, setup: Setup, rounds: int) -> Clock:
    """Every timed step, interleaved round by round."""
    on, off = setup.on, setup.off
    zst = publish(on, work / f"published-{setup.fmt}", setup.fmt)
    reference = work / "reference"
    if not reference.exists():
        envstacks("deploy", zst, "--target", reference, cwd=work)
    floors(work, reference)
    clock = Clock()
    target = work / "target"
    for _ in range(rounds):
        time_cli_deploys(clock, setup, zst, target)
        time_floors(clock, work, target)
        if off is None:
            continue
        xz = publish(off, work / "published-xz-without-pycs", "tar.xz")
        for label, (jobs, extra) in VARIANTS.items():
            argv = [sys.executable, "-c", ENVSTACKS_DEPLOY, str(zst), str(target), str(jobs)]
            fresh(target)
            clock.time(
                f"envstacks deploy ({label})", lambda argv=argv, extra=extra: run([*argv, extra])
            )
            clock.time(f"first start after envstacks deploy ({label})", lambda: start_apps(target))
        fresh(target)
        clock.time(
            "venvstacks procedure",
            lambda xz=xz: run([sys.executable, "-c", VENVSTACKS_DEPLOY, xz, target]),
        )
        clock.time("first start after venvstacks procedure", lambda: start_apps(target))
        fresh(target).mkdir()
        run(["tar", "-xf", str(work / "floor.tar"), "-C", str(target)])
        clock.time("first start, precompiled", lambda: start_apps(target))
        fresh(target).mkdir()
        run(["tar", "-xf", str(work / "cold.tar"), "-C", str(target)])
        clock.time("first start, cold (no pyc files)", lambda: start_apps(target))
        export, copy = fresh(work / "export"), fresh(work / "cp-al")
        clock.time(
            "envstacks local-export",
            lambda: envstacks("local-export", "--output-dir", export, cwd=on),  # noqa: B023
        )
        clock.time(
            "envstacks local-export (nothing to do)",
            lambda: envstacks("local-export", "--output-dir", export, cwd=on),  # noqa: B023
        )
        clock.time(
            "floor: cp -al of the build folder",
            lambda: run(["cp", "-al", str(on / "_build"), str(copy)]),  # noqa: B023
        )
    shutil.rmtree(target, ignore_errors=True)
    return clock


def floor_report(clock: Clock, rounds: int, fmt: str) -> str:
    """Each deploy from the command line as a ratio of both floors of the same run."""
    m = clock.median
    floor, zstd = m(FLOOR), m(ZSTD_FLOOR)
    lines = [
        f"Medians of {rounds} rounds, {os.cpu_count()} cores; ratios within this run; "
        f"archives `{fmt}`, floors from the page cache.",
        "",
        "| | s | ÷ `tar -x` | ÷ `zstd -dc \\| tar -x` | each round s |",
        "|---|---:|---:|---:|---|",
    ]
    for label in (FLOOR, ZSTD_FLOOR, BASELINE, CLI):
        if label in clock:
            seconds = m(label)
            rounds_s = ", ".join(f"{value:.2f}" for value in clock.wall[label])
            shown = label.replace("|", "\\|")
            lines.append(
                f"| {shown} | {seconds:.2f} | {seconds / floor:.2f} | "
                f"{seconds / zstd:.2f} | {rounds_s} |"
            )
    return "\n".join(lines)


def report(clock: Clock, rounds: int) -> str:
    """The deploy and export tables (medians; ratios within this run)."""
    m = clock.median
    vs_deploy = m("venvstacks procedure")
    vs_start = m("first start after venvstacks procedure")
    floor = m("floor: tar -x")
    floor_start = m("first start, precompiled")
    lines = [
        f"Medians of {rounds} rounds, {os.cpu_count()} cores; ratios within this run.",
        "",
        "| deploy | deploy s | + first start s | total s | vs venvstacks | vs floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [
        ("floor: `tar -x` (pyc files included)", "floor: tar -x", "first start, precompiled"),
        (
            "venvstacks' procedure (`tar.xz`, compileall)",
            "venvstacks procedure",
            "first start after venvstacks procedure",
        ),
        *(
            (
                f"envstacks deploy ({label})",
                f"envstacks deploy ({label})",
                f"first start after envstacks deploy ({label})",
            )
            for label in VARIANTS
        ),
    ]
    for label, name, start in rows:
        seconds, first = m(name), m(start)
        total = seconds + first
        lines.append(
            f"| {label} | {seconds:.2f} | {first:.2f} | {total:.2f} | "
            f"{vs_deploy / seconds:.1f}x faster ({(vs_deploy + vs_start) / total:.1f}x) | "
            f"{seconds / floor:.2f} ({total / (floor + floor_start):.2f}) |"
        )
    cold = m("first start, cold (no pyc files)")
    export, cp_al = m("envstacks local-export"), m("floor: cp -al of the build folder")
    noop = m("envstacks local-export (nothing to do)")
    lines += [
        "",
        "| first start of every app | s | vs precompiled |",
        "|---|---:|---:|",
        f"| precompiled (as deployed) | {floor_start:.2f} | 1.00 |",
        f"| cold (no pyc files: compiled and written on the way) | {cold:.2f} | "
        f"{cold / floor_start:.2f} |",
        "",
        "| export | s | vs `cp -al` | above `cp -al` s |",
        "|---|---:|---:|---:|",
        f"| floor: `cp -al` of the build folder | {cp_al:.2f} | 1.00 | 0.00 |",
        f"| envstacks local-export | {export:.2f} | {export / cp_al:.1f} | {export - cp_al:.2f} |",
        f"| envstacks local-export, nothing to do (start-up, checks) | {noop:.2f} | "
        f"{noop / cp_al:.1f} | {noop - cp_al:.2f} |",
    ]
    return "\n".join(lines)


def sizes(work: Path, on: Path, off: Path) -> str:
    """Archive bytes of the whole stack with and without pyc files, per built-in format."""
    lines = [
        "| format | without pyc files MB | with pyc files MB | growth |",
        "|---|---:|---:|---:|",
    ]
    for fmt in ("tar.zst", "tar.xz", "zip"):
        with_pycs = archive_bytes(publish(on, work / f"size-on-{fmt}", fmt))
        without = archive_bytes(publish(off, work / f"size-off-{fmt}", fmt))
        lines.append(
            f"| {fmt} | {without / 1e6:.1f} | {with_pycs / 1e6:.1f} | "
            f"{(with_pycs / without - 1) * 100:+.0f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    """Prepare the stacks, measure, print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=("example", "large", "bench"), default="example")
    parser.add_argument("--project", type=Path, help="another stack project to measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", action="store_true", help="also archive sizes per format")
    parser.add_argument("--work", type=Path, help="work (and keep results) in this folder")
    parser.add_argument("--baseline", type=Path, help="another envstacks command to time")
    parser.add_argument("--deploy-only", action="store_true", help="only deploys and floors")
    args = parser.parse_args()
    work = (args.work or Path(f"/tmp/envstacks-bench-deploy-{args.stack}")).absolute()
    sources = {"example": EXAMPLE, "large": None, "bench": BENCH}
    source = args.project or sources[args.stack]
    on = prepare(source, work / "precompiled", precompile=True)
    off = None
    if not args.deploy_only or args.sizes:
        off = prepare(source, work / "not-precompiled", precompile=False)
    fmt = "tar.xz" if args.stack == "bench" else "tar.zst"
    baseline = args.baseline.absolute() if args.baseline is not None else None
    setup = Setup(on=on, off=None if args.deploy_only else off, fmt=fmt, baseline=baseline)
    clock = measure(work, setup, args.rounds)
    print(floor_report(clock, args.rounds, fmt), flush=True)
    if not args.deploy_only:
        print()
        print(report(clock, args.rounds), flush=True)
    if args.sizes and off is not None:
        print()
        print(sizes(work, on, off))


if __name__ == "__main__":
    main()
