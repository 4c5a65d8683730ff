"""Benchmark the archive formats: publish and deploy time and archive size, with ratios.

"publish" is what publish does with a staged layer (tree hash, pack, archive hash); "deploy"
is verifying the archive's sha256 and unpacking it with the safety checks (postinstall,
the same for every format, is left out).

Each built-in format, as envstacks runs it, is measured on the same trees in the same run as

* venvstacks' way: Python ``tarfile`` mode ``w:xz`` (one thread, preset 6) to publish, and
  ``tarfile`` ``extractall`` to deploy;
* the floor: an uncompressed GNU ``tar -c`` of the tree, and ``tar -x`` of that tar;

and reported as ratios against both, so the numbers mean something on any machine.

Trees (give at least one):

* ``--example``: build the example stack (example_projects/sklearn-stack; needs PyPI) with the
  envstacks CLI and stage each layer with ``stage_layer``, as publish does;
* ``--large DIR``: a large framework-like venv with pandas, pyarrow and scipy (made with uv in
  DIR if missing; needs PyPI);
* ``--tree DIR``: any folder (a staged layer, a build env), repeatable.

Usage::

    python benchmarks/archive_formats.py --example --large /tmp/bench-large
        [--python /path/to/python3.12] [--rounds 3]
        [--zstd-levels 3,10,19] [--json results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from envstacks.floor.fs import file_sha256
from envstacks.floor.report import NullReporter
from envstacks.published.archive_fetch import verify_archive
from envstacks.published.archive_formats import BUILTIN_FORMATS
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.archive_tar import ZSTD_LEVEL, TarZstFormat
from envstacks.published.file_index import tree_hash
from envstacks.published.layer_tree import scan_tree
from envstacks.published.safe_unpack import unpack_layer

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_projects" / "sklearn-stack"
MTIME = 1767225600  # 2026-01-01, any fixed lock time
LARGE_PACKAGES = ("pandas", "pyarrow", "scipy")


@dataclass
class Row:
    """One tree and one way of archiving it."""

    tree: str
    method: str
    pack_s: float
    unpack_s: float
    size: int


def timed(action: Callable[[], None], rounds: int, before: Callable[[], None]) -> float:
    """Median wall time of ``action`` over ``rounds`` runs (``before`` runs untimed first)."""
    times = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: list[str | os.PathLike[str]], cwd: Path | None = None) -> None:
    """Run a command, failing loudly with its output."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, argv))}\n{done.stdout}\n{done.stderr}")


def tree_stats(tree: Path) -> tuple[int, int]:
    """(bytes of file content, number of entries) of a tree."""
    size = count = 0
    for root, dirs, files in os.walk(tree):
        count += len(dirs) + len(files)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                size += path.stat().st_size
    return size, count


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # What venvstacks' _make_tar_archive filter does: root owner, & 0o755, clamped mtime.
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode &= 0o755
    info.mtime = min(info.mtime, MTIME)
    return None if "__pycache__" in info.name.split("/") else info  # type: ignore[return-value]


def bench_tree(
    name: str,
    tree: Path,
    work: Path,
    rounds: int,
    formats: dict[str, ArchiveFormat],
    *,
    deploy_rounds: int,
) -> list[Row]:
    """Every method on one tree (packing ``rounds`` times, unpacking ``deploy_rounds`` times)."""
    rows: list[Row] = []
    root = tree.name
    out = work / "out"
    dest = work / "dest"

    def fresh() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)

    def clean_out() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)

    # The floor: GNU tar without compression.
    plain = out / "plain.tar"
    pack = timed(lambda: run(["tar", "-cf", plain, "-C", tree.parent, root]), rounds, clean_out)
    keep = work / "plain.tar"
    shutil.copyfile(plain, keep)
    unpack = timed(lambda: run(["tar", "-xf", keep, "-C", dest]), deploy_rounds, fresh)
    rows.append(
        Row(
            tree=name,
            method="floor: tar -c / tar -x",
            pack_s=pack,
            unpack_s=unpack,
            size=keep.stat().st_size,
        )
    )
    keep.unlink()

    # venvstacks: tarfile w:xz, one thread; extractall to deploy.
    xz = out / "venvstacks.tar.xz"

    def venvstacks_pack() -> None:
        with tarfile.open(xz, "w:xz") as tar:
            tar.add(tree, arcname=root, filter=_normalise)

    pack = timed(venvstacks_pack, rounds, clean_out)
    keep = work / "venvstacks.tar.xz"
    shutil.copyfile(xz, keep)

    def venvstacks_unpack() -> None:
        with tarfile.open(keep, "r:xz") as tar:
            tar.extractall(dest, filter="fully_trusted")  # what venvstacks' own tests use

    unpack = timed(venvstacks_unpack, deploy_rounds, fresh)
    rows.append(
        Row(
            tree=name,
            method="venvstacks: tarfile w:xz",
            pack_s=pack,
            unpack_s=unpack,
            size=keep.stat().st_size,
        )
    )
    keep.unlink()

    for label, fmt in formats.items():
        archive = out / f"a{fmt.suffix}"

        def envstacks_pack(fmt: ArchiveFormat = fmt, archive: Path = archive) -> None:
            # What publish does per layer once it is staged: tree hash, pack, archive hash.
            tree_hash(scan_tree(tree, root_name=root))
            with NullReporter().task(root, "pack") as task:
                fmt.pack(tree, archive, root_name=root, mtime=MTIME, task=task)
            file_sha256(archive)

        pack = timed(envstacks_pack, rounds, clean_out)
        keep = work / archive.name
        shutil.copyfile(archive, keep)
        digest = hashlib.sha256(keep.read_bytes()).hexdigest()
        size = keep.stat().st_size

        def envstacks_deploy(
            fmt: ArchiveFormat = fmt, keep: Path = keep, digest: str = digest, size: int = size
        ) -> None:
            verify_archive(keep, archive_name=keep.name, size=size, sha256=digest)
            unpack_layer(fmt, keep, dest, install_target=root, archive_name=keep.name, target=dest)

        unpack = timed(envstacks_deploy, deploy_rounds, fresh)
        rows.append(
            Row(tree=name, method=f"envstacks {label}", pack_s=pack, unpack_s=unpack, size=size)
        )
        print(
            f"  {label}: pack {pack:.2f} s, deploy {unpack:.2f} s, {size / 1e6:.1f} MB", flush=True
        )
        keep.unlink()
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return rows


def make_large(folder: Path, interpreter: Path) -> Path:
    """A venv with pandas, pyarrow and scipy (made once; reused when present)."""
    from envstacks.floor.uvrun import uv_bin  # noqa: PLC0415 - only for this tree

    python = folder / "bin" / "python"
    if not folder.exists():
        run([uv_bin(), "venv", "--python", interpreter, folder])
        run([uv_bin(), "pip", "install", "--python", python, *LARGE_PACKAGES])
    # Make it look like a staged layer: deploy refuses absolute links, staging drops pyvenv.cfg.
    for link in (folder / "bin").iterdir():
        if link.is_symlink() and link.readlink().is_absolute():
            link.unlink()
            link.symlink_to(f"../../cpython-3.12/bin/{link.name}")
    (folder / "pyvenv.cfg").unlink(missing_ok=True)
    return folder


def make_example(work: Path) -> list[Path]:
    """Build the example stack with the CLI and stage each layer as publish does."""
    from envstacks.stages.building.staging import stage_layer  # noqa: PLC0415
    from envstacks.stages.locking import lock_states  # noqa: PLC0415 - only for this tree
    from envstacks.stages.stackspec import load  # noqa: PLC0415

    project = work / "sklearn-stack"
    if not project.exists():
        shutil.copytree(
            EXAMPLE, project, ignore=shutil.ignore_patterns("_build", "dist", "_export")
        )
    run([sys.executable, "-m", "envstacks", "build", "--lock-if-needed"], cwd=project)
    spec = load(project / "pyproject.toml")
    states = lock_states(spec)
    targets = {name: state.install_target for name, state in states.items()}
    staged = []
    for layer in spec.enabled_layers:
        destination = work / "staged" / targets[layer.build_name]
        if not destination.exists():
            stage_layer(
                spec,
                layer,
                spec.settings.build_dir / layer.build_name,
                destination,
                install_targets=targets,
            )
        staged.append(destination)
    return staged


def table(rows: list[Row]) -> str:
    """A markdown table with ratios against venvstacks and the floor of the same tree."""
    lines = [
        "| tree | method | publish s | deploy s | MB | publish vs venvstacks | publish vs floor "
        "| deploy vs venvstacks | deploy vs floor | size vs venvstacks |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        same = [r for r in rows if r.tree == row.tree]
        floor = next(r for r in same if r.method.startswith("floor"))
        xz = next(r for r in same if r.method.startswith("venvstacks"))
        cells = [
            row.tree,
            row.method,
            f"{row.pack_s:.2f}",
            f"{row.unpack_s:.2f}",
            f"{row.size / 1e6:.1f}",
            f"{row.pack_s / xz.pack_s:.3f}",
            f"{row.pack_s / floor.pack_s:.1f}",
            f"{row.unpack_s / xz.unpack_s:.2f}",
            f"{row.unpack_s / floor.unpack_s:.2f}",
            f"{row.size / xz.size:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(rows: list[Row]) -> list[Row]:
    """One row per method: times and sizes summed over every tree (a whole stack)."""
    summed: dict[str, Row] = {}
    for row in rows:
        total = summed.setdefault(
            row.method, Row(tree="all", method=row.method, pack_s=0, unpack_s=0, size=0)
        )
        total.pack_s += row.pack_s
        total.unpack_s += row.unpack_s
        total.size += row.size
    return list(summed.values())


def main() -> None:
    """Parse the options, measure, print the table (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--example", action="store_true")
    parser.add_argument("--large", type=Path)
    parser.add_argument(
        "--python",
        type=Path,
        default=Path(sys.executable),
        help="interpreter of the --large venv (a real one, not a pyenv shim)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of packing (median)")
    parser.add_argument(
        "--deploy-rounds",
        type=int,
        default=5,
        help="rounds of unpacking (cheap, and noisier than packing: file creation and writeback)",
    )
    parser.add_argument("--zstd-levels", default=str(ZSTD_LEVEL), help="comma-separated")
    parser.add_argument("--formats", default="tar.zst,tar.xz,zip", help="comma-separated")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    work = opts.work or Path(tempfile.mkdtemp(prefix="envstacks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    trees: list[tuple[str, Path]] = [(path.name, path.resolve()) for path in opts.tree]
    if opts.example:
        trees += [(path.name, path) for path in make_example(work / "example")]
    if opts.large:
        trees.append(
            ("large (pandas+pyarrow+scipy)", make_large(opts.large.resolve(), opts.python))
        )
    if not trees:
        parser.error("give --example, --large DIR or --tree DIR")
    formats: dict[str, ArchiveFormat] = {}
    for name in opts.formats.split(","):
        if name == "tar.zst":
            for level in (int(part) for part in opts.zstd_levels.split(",")):
                formats[f"tar.zst level {level}"] = TarZstFormat(level=level)
        else:
            formats[name] = BUILTIN_FORMATS[name]
    rows: list[Row] = []
    print(
        f"cores: {os.cpu_count()}; Python {sys.version.split()[0]}; rounds: {opts.rounds}",
        flush=True,
    )
    for name, tree in trees:
        size, count = tree_stats(tree)
        print(f"- {name}: {size / 1e6:.1f} MB in {count} entries", flush=True)
        rows += bench_tree(
            name,
            tree,
            work / "scratch",
            opts.rounds,
            formats,
            deploy_rounds=max(opts.rounds, opts.deploy_rounds),
        )
        print(table([r for r in rows if r.tree == name]), flush=True)
    print("\nAll trees:\n" + table(rows))
    if len(trees) > 1:
        print("\nSum over all trees:\n" + table(totals(rows)))
    if opts.json:
        opts.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    if opts.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
