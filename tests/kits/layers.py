"""Synthetic published layers: small trees with working postinstall scripts, packed, in a manifest.

The layers are synthetic (no real CPython is copied: that takes minutes), but everything else
is real: archives written by the built-in formats (or crafted with ``tarfile``), manifests in
venvstacks' schema, real subprocesses running each layer's ``postinstall.py``. The runtime
layer's ``bin/python3`` is a shell wrapper that runs the test's own interpreter and marks the
environment, so a test can tell which interpreter ran a script.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from envstacks.floor.platforms import host_platform
from envstacks.floor.report import NullReporter
from envstacks.floor.workers import Cancellation
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.archive_formats import BUILTIN_FORMATS
from envstacks.published.file_index import index_tree, tree_hash
from envstacks.published.layer_tree import scan_tree
from envstacks.published.sources import Source, open_source
from envstacks.stages.packing.delta_writer import DeltaBase
from envstacks.stages.packing.earlier_versions import load_delta_bases
from envstacks.stages.packing.index_and_deltas import pack_extras

RUNTIME = "cpython-3.12"
FRAMEWORK = "framework-fw"
LOCKED_AT = "2026-01-02T03:04:05+00:00"
MTIME = 1767323045

POSTINSTALL = """\
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(os.path.dirname(here), "postinstall-order.txt"), "a") as log:
    log.write(os.path.basename(here) + "\\n")
with open(os.path.join(here, "postinstall.json"), "w") as out:
    json.dump({"python": sys.executable, "via": os.environ.get("ENVSTACKS_TEST_RUNTIME")}, out)
if os.path.exists(os.path.join(here, "FAIL")):
    sys.exit("postinstall failed on purpose")
"""


@dataclass
class Layer:
    """A layer to publish: its deployed name, kind, the runtime and frameworks it needs."""

    install_target: str
    kind: str  # runtimes / frameworks / applications
    runtime: str = RUNTIME
    required: tuple[str, ...] = ()
    #: Extra files: text, or bytes (written as they are).
    files: dict[str, str | bytes] = field(default_factory=dict)


def write_tree(root: Path, layer: Layer) -> Path:
    """A layer folder: postinstall, a module, and the links real layers have."""
    site = root / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (root / "postinstall.py").write_text(POSTINSTALL)
    module = layer.install_target.split("@")[0].replace("-", "_")
    (site / f"{module}.py").write_text(f"NAME = {layer.install_target!r}\n")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    if layer.kind == "runtimes":
        config = root / "share" / "venv" / "metadata"
        config.mkdir(parents=True)
        (config / "venvstacks_layer.json").write_text(
            json.dumps({"python": "bin/python3", "base_python": "bin/python3"})
        )
        wrapper = bin_dir / "python3"
        wrapper.write_text(
            f'#!/bin/sh\nENVSTACKS_TEST_RUNTIME="$(dirname "$0")" exec {sys.executable} "$@"\n'
        )
        wrapper.chmod(0o755)
        (bin_dir / "python").symlink_to("python3")
    else:
        (bin_dir / "python_").symlink_to(f"../../{layer.runtime}/bin/python3")
    for relative, content in layer.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def manifest_entry(layer: Layer, archive: Path, *, fmt: str, tree: str | None) -> dict[str, object]:
    """A manifest entry in venvstacks' schema (plus envstacks' fields) for a packed archive."""
    entry: dict[str, object] = {
        "layer_name": layer.install_target.split("@")[0],
        "install_target": layer.install_target,
        "requirements_hash": "sha256:" + "0" * 64,
        "lock_version": 1,
        "locked_at": LOCKED_AT,
        "runtime_layer": layer.runtime if layer.kind != "runtimes" else layer.install_target,
        "python_implementation": "cpython@3.12.1",
        "bound_to_implementation": layer.kind == "runtimes",
        "archive_build": 1,
        "archive_name": archive.name,
        "archive_format": fmt,
        "target_platform": host_platform(),
        "archive_size": archive.stat().st_size,
        "archive_hashes": {"sha256": hashlib.sha256(archive.read_bytes()).hexdigest()},
    }
    if tree is not None:
        entry["tree_hashes"] = {"sha256": tree}
    if layer.kind != "runtimes":
        entry["required_layers"] = list(layer.required)
    if layer.kind == "applications":
        entry["app_launch_module"] = layer.install_target.split("@")[0].replace("-", "_")
    return entry


def write_manifest(output: Path, entries: list[tuple[Layer, dict[str, object]]]) -> Path:
    """``__venvstacks__/venvstacks.json`` listing the entries by kind."""
    layers: dict[str, list[dict[str, object]]] = {
        "applications": [],
        "frameworks": [],
        "runtimes": [],
    }
    for layer, entry in entries:
        layers[layer.kind].append(entry)
    path = output / "__venvstacks__" / "venvstacks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"layers": layers}, indent=2, sort_keys=True))
    return path


def default_layers() -> list[Layer]:
    """A runtime, a framework on it, and two applications (one on the framework)."""
    return [
        Layer(RUNTIME, "runtimes"),
        Layer(FRAMEWORK, "frameworks"),
        Layer("app-one", "applications", required=(FRAMEWORK,)),
        Layer("app-two@2", "applications"),
    ]


Publisher = Callable[..., Path]


def publisher(tmp_path: Path) -> Publisher:
    """Return ``publish(output, layers=..., fmt=...) -> output``: pack trees, write the manifest.

    With ``indexes=True`` each layer also gets its file index, and with ``delta_from`` (an
    earlier output) deltas from the versions it lists, written by publish's own code
    (:func:`envstacks.stages.packing.index_and_deltas.pack_extras`).
    """

    def publish(
        output: Path,
        layers: list[Layer] | None = None,
        fmt: str = "tar.zst",
        *,
        indexes: bool = False,
        delta_from: Path | str | Source | None = None,
    ) -> Path:
        trees = tmp_path / "trees" / output.name
        shutil.rmtree(trees, ignore_errors=True)
        bases = _bases(delta_from) if delta_from is not None else {}
        entries = []
        for layer in layers or default_layers():
            tree = write_tree(trees / layer.install_target, layer)
            archive = output / f"{layer.install_target}{BUILTIN_FORMATS[fmt].suffix}"
            archive.parent.mkdir(parents=True, exist_ok=True)
            with NullReporter().task(layer.install_target, "pack") as task:
                BUILTIN_FORMATS[fmt].pack(
                    tree, archive, root_name=layer.install_target, mtime=MTIME, task=task
                )
            digest = tree_hash(scan_tree(tree, root_name=layer.install_target))
            entry = manifest_entry(layer, archive, fmt=fmt, tree=digest)
            if indexes or delta_from is not None:
                entry.update(_extras(tree, archive, layer, fmt=fmt, bases=bases, work=tmp_path))
            entries.append((layer, entry))
        write_manifest(output, entries)
        return output

    return publish


def _bases(earlier: Path | str | Source) -> dict[str, list[DeltaBase]]:
    reporter = NullReporter()
    source = (
        earlier
        if isinstance(earlier, Source)
        else open_source(earlier, platform=host_platform(), reporter=reporter)
    )
    pm = get_plugin_manager(load_entrypoints=False)
    return load_delta_bases([source], platform=host_platform(), pm=pm, reporter=reporter)


def _extras(
    tree: Path,
    archive: Path,
    layer: Layer,
    *,
    fmt: str,
    bases: dict[str, list[DeltaBase]],
    work: Path,
) -> dict[str, object]:
    """Write the layer's file index and deltas as publish does; their metadata fields."""
    index = index_tree(scan_tree(tree, root_name=layer.install_target))
    extras = pack_extras(
        tree,
        index,
        archive=archive,
        archive_size=archive.stat().st_size,
        snippet_dir=archive.parent / "__venvstacks__" / "env_metadata",
        fmt=BUILTIN_FORMATS[fmt],
        bases=bases.get(layer.install_target.split("@")[0], ()),
        mtime=MTIME,
        workspace=work,
        reporter=NullReporter(),
        cancel=Cancellation(),
    )
    for temporary, final in extras.files:
        temporary.replace(final)
    return extras.metadata


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every path under ``folder`` with its kind and inode (to prove nothing changed)."""
    result: dict[str, tuple[str, int]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            result[str(path.relative_to(folder))] = (kind, info.st_ino)
    return result
