"""Benchmark the bounded JSON reader on large file indexes and hostile documents.

Every JSON envstacks reads from outside goes through ``envstacks.floor.bounded_json.loads``,
which checks the size and the nesting depth before parsing. This measures, on synthetic file
indexes of a realistic shape (what ``FileIndex.to_document`` gives for a layer of N files:
path, kind, mode, size, sha256 per row), the time of

* ``json.loads`` alone (the floor: what reading cost before the bounds);
* ``bounded_json.loads`` (the depth pre-pass plus ``json.loads``);

and their ratio, and the time the reader takes to refuse hostile documents (100,000 levels of
``[``; the same with matching ``]``) and to accept a 32 MB string full of brackets.

Usage: python benchmarks/bounded_json.py [--files 20000,100000,400000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable

from envstacks.floor import bounded_json
from envstacks.floor.errors import JSONDocumentError


def index_document(files: int) -> bytes:
    """A file index document of ``files`` files in 1 folder per 50 files (compact JSON)."""
    rows: list[list[object]] = []
    for folder in range(files // 50 + 1):
        rows.append([f"lib/python3.12/site-packages/pkg{folder}", "d", 0o755])
        for item in range(min(50, files - folder * 50)):
            name = f"lib/python3.12/site-packages/pkg{folder}/module_{item}.py"
            digest = hashlib.sha256(name.encode()).hexdigest()
            rows.append([name, "f", 0o644, 1000 + item, digest])
    document = {
        "format": "envstacks-file-index",
        "version": 1,
        "root": "layer",
        "tree_sha256": "0" * 64,
        "entries": rows,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def median_time(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def refuse(data: bytes) -> None:
    try:
        bounded_json.loads(data, where="bench", max_bytes=256 << 20)
    except JSONDocumentError:
        return
    raise AssertionError("not refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="20000,100000,400000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'files':>8} {'MB':>7} {'json.loads ms':>14} {'bounded ms':>11} {'ratio':>6}")
    for files in (int(item) for item in args.files.split(",")):
        data = index_document(files)
        floor = median_time(lambda data=data: json.loads(data), args.rounds)
        ours = median_time(
            lambda data=data: bounded_json.loads(data, where="bench", max_bytes=256 << 20),
            args.rounds,
        )
        print(
            f"{files:>8} {len(data) / 1e6:>7.1f} {floor * 1e3:>14.1f} {ours * 1e3:>11.1f} "
            f"{ours / floor:>6.2f}"
        )
    hostile = {
        "100k x '['": b"[" * 100_000,
        "100k x '[' + ']'": b"[" * 100_000 + b"]" * 100_000,
    }
    for name, data in hostile.items():
        print(f"refuse {name}: {median_time(lambda d=data: refuse(d), args.rounds) * 1e3:.1f} ms")
    text = b'"' + b"[{" * (16 << 20) + b'"'
    accept = median_time(
        lambda: bounded_json.loads(text, where="bench", max_bytes=256 << 20), args.rounds
    )
    print(f"accept a 32 MB string full of brackets: {accept * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
