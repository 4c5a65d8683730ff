"""Per archive: envstacks' verified unpack against a native path (zstd and tar processes).

The question of issue 21: would unpacking with ``zstd -dc | tar -x`` behind the same checks
beat envstacks' own unpacking (:func:`envstacks.published.verified_unpack.unpack_verified`:
one read of the archive, sha256 and size checked, every member checked by the unpack rules)?
Timed round by round in one run, each archive read from the page cache into a fresh folder:

* **envstacks**: ``unpack_verified``, as deploy runs it in a worker process;
* **native**: the archive read once in Python (sha256, the bytes piped on) into
  ``zstd -dc | tar -x``, without the member checks;
* **native + header scan**: the same after a scan of every member header (``tarfile`` over
  the zstd stream), the least a native path needs to apply the unpack rules before ``tar``
  writes anything.

Usage (a publish folder of ``tar.zst`` archives, e.g. the one ``benchmarks/deploy.py`` made)::

    python benchmarks/deploy_native.py /tmp/envstacks-bench-deploy-example/published-tar.zst
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tarfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import zstandard

from envstacks.floor.report import NullReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.archive_formats import format_for_archive
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import FetchedArchive, open_source
from envstacks.published.verified_unpack import UnpackJob, unpack_verified
from envstacks.stages.deploying.triage import select_for_platform

PATHS = ("envstacks", "native", "native + header scan")


def fresh(folder: Path) -> Path:
    """``folder``, empty, with the removal of its previous content written back."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.sync()
    return folder


def ours(published: Path, layer: ManifestLayer, folder: Path, fmt: ArchiveFormat) -> None:
    """The verified unpack of ``layer``'s archive into the empty ``folder``, as deploy does."""
    archive = FetchedArchive(path=published / layer.archive_name, downloaded=False)
    job = UnpackJob(fmt=fmt, archive=archive, layer=layer, workdir=folder, target=folder)
    unpack_verified(job)


def native(published: Path, layer: ManifestLayer, folder: Path, *, scan: bool) -> None:
    """The archive hashed while piped into ``zstd -dc | tar -x`` in the empty ``folder``."""
    path = published / layer.archive_name
    if scan:
        with (
            path.open("rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            for member in tar:
                _ = member.name  # headers only: the stream skips the data
    target = folder
    digest = hashlib.sha256()
    untar = subprocess.Popen(
        ["bash", "-o", "pipefail", "-c", f"zstd -dc | tar -xf - -C '{target}'"],
        stdin=subprocess.PIPE,
    )
    assert untar.stdin is not None
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
            untar.stdin.write(chunk)
    untar.stdin.close()
    if untar.wait() != 0 or digest.hexdigest() != layer.archive_sha256:
        raise SystemExit(f"native unpack of {path} failed")


def main() -> None:
    """Time the three paths per archive of 1 MB or more; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("published", type=Path, help="a publish folder of tar.zst archives")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/envstacks-bench-native"))
    args = parser.parse_args()
    published, folder = args.published.absolute(), args.work.absolute()
    source = open_source(published, platform=None, reporter=NullReporter())
    layers = [
        layer
        for layer in select_for_platform(source, (), "linux_x86_64")
        if layer.archive_size >= 1 << 20 and layer.archive_name.endswith(".tar.zst")
    ]
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for layer in layers:
            fmt = format_for_archive(get_plugin_manager(), layer.archive_name, declared=None)
            actions: dict[str, Callable[[], None]] = {
                "envstacks": partial(ours, published, layer, folder, fmt),
                "native": partial(native, published, layer, folder, scan=False),
                "native + header scan": partial(native, published, layer, folder, scan=True),
            }
            for label, action in actions.items():
                fresh(folder)  # emptied and written back before the clock starts
                (published / layer.archive_name).read_bytes()  # into the page cache
                start = time.perf_counter()
                action()
                times.setdefault((layer.archive_name, label), []).append(
                    time.perf_counter() - start
                )
    shutil.rmtree(folder, ignore_errors=True)
    print(f"Medians of {args.rounds} rounds, {os.cpu_count()} cores; ratios within this run.\n")
    print("| archive | path | s | envstacks ÷ this |")
    print("|---|---|---:|---:|")
    for layer in layers:
        base = statistics.median(times[(layer.archive_name, "envstacks")])
        for label in PATHS:
            seconds = statistics.median(times[(layer.archive_name, label)])
            print(f"| {layer.archive_name} | {label} | {seconds:.2f} | {base / seconds:.2f} |")


if __name__ == "__main__":
    main()
