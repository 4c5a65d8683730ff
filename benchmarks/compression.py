"""Benchmark the compression settings against ``xz -9`` of the same tar, in one run.

For each tree (by default every staged layer of the example stack, as publish stages it) the
tar stream envstacks writes is made once and compressed by ``xz -9`` (the CLI, one thread:
the size the ``max`` setting aims at); then every setting packs each tree through its format:
``tar.zst`` at ``fast``, ``default`` and ``max``, and ``tar.xz`` at ``default`` (venvstacks')
and ``max``. Summed over the trees it prints, per setting: the archive bytes and their ratio to
``xz -9``'s, the packing seconds, and the seconds to read every member back with the format's
reader (what deploy does before writing files; ``xz -9``'s archives are read by the
``tar.xz`` reader), as a ratio of ``xz -9``'s: medians of ``--rounds`` interleaved rounds.

Usage: python benchmarks/compression.py [--rounds N] [--work DIR] [--tree DIR ...]
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

from archive_formats import make_example

from envstacks.floor.report import RecordingReporter
from envstacks.published.archive_formats import BUILTIN_FORMATS, compression_of, with_compression
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.archive_tar import write_tar
from envstacks.published.layer_tree import scan_tree

SETTINGS = [("tar.zst", "fast"), ("tar.zst", "default"), ("tar.zst", "max")]
SETTINGS += [("tar.xz", "default"), ("tar.xz", "max")]
MTIME = 1_767_323_045


def tar_of(tree: Path, destination: Path) -> Path:
    """The uncompressed tar stream envstacks' tar formats compress, for ``tree``."""
    with destination.open("wb") as out, RecordingReporter().task("x", "tar") as task:
        write_tar(scan_tree(tree, root_name=tree.name), out, mtime=MTIME, task=task)
    return destination


def xz9(tar: Path) -> tuple[Path, float]:
    """``xz -9`` of ``tar`` on one thread (the CLI when there is one), and its seconds."""
    archive = tar.with_suffix(".tar.xz9")
    start = time.perf_counter()
    if shutil.which("xz"):
        with archive.open("wb") as out:
            subprocess.run(["xz", "-9", "-T1", "-c", str(tar)], stdout=out, check=True)
    else:
        import lzma  # noqa: PLC0415 - only without the CLI

        archive.write_bytes(lzma.compress(tar.read_bytes(), preset=9))
    return archive, time.perf_counter() - start


def pack(fmt: ArchiveFormat, tree: Path, archive: Path) -> float:
    """Seconds to pack ``tree`` into ``archive``."""
    start = time.perf_counter()
    with RecordingReporter().task("x", "pack") as task:
        fmt.pack(tree, archive, root_name=tree.name, mtime=MTIME, task=task)
    return time.perf_counter() - start


def read_back(fmt: ArchiveFormat, archive: Path) -> float:
    """Seconds to read every member's content with the format's reader (deploy's first half)."""
    start = time.perf_counter()
    with archive.open("rb") as raw, fmt.open_reader(raw) as reader, open(os.devnull, "wb") as sink:
        for member in reader.members():
            if member.size:
                reader.extract(member, sink)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of reading back (median)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="instead")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="envstacks-compression-"))
    work.mkdir(parents=True, exist_ok=True)
    trees = args.tree or make_example(work)
    out = work / "archives"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    names = ["xz -9", *(f"{fmt} {setting}" for fmt, setting in SETTINGS)]
    sizes = dict.fromkeys(names, 0)
    packing = dict.fromkeys(names, 0.0)
    archives: dict[str, list[tuple[ArchiveFormat, Path]]] = {name: [] for name in names}
    for index, tree in enumerate(trees):
        tar = tar_of(tree, out / f"{index}.tar")
        archive, seconds = xz9(tar)
        sizes["xz -9"] += archive.stat().st_size
        packing["xz -9"] += seconds
        archives["xz -9"].append((BUILTIN_FORMATS["tar.xz"], archive))
        tar.unlink()
        for (fmt_name, setting), name in zip(SETTINGS, names[1:], strict=True):
            fmt = with_compression(BUILTIN_FORMATS[fmt_name], setting, where="benchmark")
            archive = out / f"{index}.{setting}.{fmt_name}"
            packing[name] += pack(fmt, tree, archive)
            sizes[name] += archive.stat().st_size
            archives[name].append((BUILTIN_FORMATS[fmt_name], archive))
        print(f"packed {tree.name}", file=sys.stderr)
    reading: dict[str, list[float]] = {name: [] for name in names}
    for _round in range(args.rounds):
        for name in names:
            reading[name].append(sum(read_back(fmt, path) for fmt, path in archives[name]))
    read = {name: statistics.median(values) for name, values in reading.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{len(trees)} trees; reading back: median of {args.rounds} interleaved rounds; "
        f"{cores} usable cores"
    )
    print(
        f"{'setting':18} {'what':36} {'MB':>8} {'÷ xz -9':>8} {'pack s':>8} {'read s':>7} "
        f"{'xz -9 read ÷':>12}"
    )
    for name in names:
        if name == "xz -9":
            what = "xz -9 -T1 of the same tar (CLI)"
        else:
            fmt_name, setting = name.split()
            what = compression_of(with_compression(BUILTIN_FORMATS[fmt_name], setting, where="x"))
        print(
            f"{name:18} {what:36} {sizes[name] / 1e6:8.1f} {sizes[name] / sizes['xz -9']:8.3f} "
            f"{packing[name]:8.1f} {read[name]:7.2f} {read['xz -9'] / read[name]:11.1f}x"
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
