"""Real publish folders of a really built stack, for what comes after publish (merge, push, deploy).

The stack is :mod:`kits.clib_stack` (offline: a local CPython made relocatable, a compiled C
library, an extension module linking it). :func:`build_publishes` publishes version 1 with
the real CLI, untagged and with ``--tag-outputs``, then changes the application's module
only and publishes version 2 with ``--tag-outputs --delta-from`` version 1's folder: its
folder holds everything a publish writes (archives, snippets, file indexes, deltas and the
indexes of their bases).

No second platform can be built here, so :func:`relabel` copies a tagged publish folder
under the names ``publish --tag-outputs`` gives another platform (archives, deltas, file
indexes, SBOMs, snippets, the manifest) with its ``target_platform``; the archives keep their bytes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.stages.locking import LockOptions
from envstacks.stages.stackspec import load
from kits import clib_stack, stacks

HOST = host_platform()
#: The platform a relabelled folder stands for.
OTHER = "linux_aarch64" if HOST != "linux_aarch64" else "linux_x86_64"
APP_V2 = clib_stack.APP + 'print(json.dumps({"version": 2}))\n'


@dataclass(frozen=True, slots=True, kw_only=True)
class Publishes:
    """The stack's project and its publish folders (read them; copy before changing)."""

    project: Path
    #: Version 1, published without ``--tag-outputs``.
    untagged_v1: Path
    #: Version 1, published with ``--tag-outputs``.
    tagged_v1: Path
    #: Version 2 (the application's module changed), ``--tag-outputs``, deltas from version 1.
    tagged_v2: Path


def lock_and_build(project: Path) -> None:
    """Lock (offline, against the wheels compiled for the stack) and build every layer."""
    spec = load(project / "pyproject.toml")
    reporter = RecordingReporter()
    stacks.lock_stack(
        spec, reporter, options=LockOptions(index=False, local_wheels=(project / "wheels",))
    )
    stacks.build_stack(spec, reporter)


def write_project(root: Path, python: Path) -> Path:
    """The stack's project in ``root/project``, its wheels compiled, locked and built."""
    project = root / "project"
    project.mkdir(parents=True)
    stacks.build_dynlib_wheels(project, python)
    (project / "pyproject.toml").write_text(clib_stack.SPEC, encoding="utf-8")
    (project / "useext.py").write_text(clib_stack.APP, encoding="utf-8")
    lock_and_build(project)
    return project


def publish(project: Path, output: Path, *extra: str) -> Path:
    """Run ``envstacks publish`` (the real CLI, in this process) into ``output``."""
    argv = ["-q", "publish", str(project / "pyproject.toml"), "--output-dir", str(output), *extra]
    assert main(argv) == 0, f"envstacks {' '.join(argv)} failed"
    return output


def build_publishes(root: Path, python: Path) -> Publishes:
    """Build the stack and publish its two versions under ``root`` (module docstring)."""
    project = write_project(root, python)
    untagged = publish(project, root / "untagged-v1")
    tagged = publish(project, root / "tagged-v1", "--tag-outputs")
    (project / "useext.py").write_text(APP_V2, encoding="utf-8")
    lock_and_build(project)
    second = publish(project, root / "tagged-v2", "--tag-outputs", "--delta-from", str(tagged))
    return Publishes(project=project, untagged_v1=untagged, tagged_v1=tagged, tagged_v2=second)


def relabel(folder: Path, dest: Path, platform: str = OTHER, *, source: str = HOST) -> Path:
    """Copy the tagged publish folder ``folder`` of ``source`` as ``platform``'s into ``dest``.

    Every name ``publish --tag-outputs`` gives the platform changes (``-<source>-`` becomes
    ``-<platform>-`` in archive, delta and index names; snippets and the manifest are named
    for ``platform``), and every entry names ``platform`` as its target.
    """
    tag, new = f"-{source}-", f"-{platform}-"
    meta = folder / "__venvstacks__"
    snippets = dest / "__venvstacks__" / "env_metadata"
    snippets.mkdir(parents=True)
    manifest = json.loads((meta / f"venvstacks-{source}.json").read_text(encoding="utf-8"))
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, dest / path.name.replace(tag, new))
    for path in (meta / "env_metadata").iterdir():
        if not path.name.endswith(".json"):  # file indexes (snippets are rewritten below)
            shutil.copy2(path, snippets / path.name.replace(tag, new))
    if (meta / "sbom").is_dir():
        (dest / "__venvstacks__" / "sbom").mkdir()
        for path in (meta / "sbom").iterdir():
            shutil.copy2(path, dest / "__venvstacks__" / "sbom" / path.name.replace(tag, new))
    for entries in manifest["layers"].values():
        for entry in entries:
            _relabel_entry(entry, tag, new, platform)
            snippet = snippets / f"{entry['layer_name']}-{platform}.json"
            snippet.write_text(json.dumps(entry, indent=2, sort_keys=True), encoding="utf-8")
    path = dest / "__venvstacks__" / f"venvstacks-{platform}.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return dest


def _relabel_entry(entry: dict[str, Any], tag: str, new: str, platform: str) -> None:
    entry["target_platform"] = platform
    entry["archive_name"] = entry["archive_name"].replace(tag, new)
    for key in ("file_index", "sbom"):
        if key in entry:
            entry[key]["name"] = entry[key]["name"].replace(tag, new)
    for delta in entry.get("deltas", ()):
        delta["archive_name"] = delta["archive_name"].replace(tag, new)


def entries(folder: Path, manifest: str) -> dict[str, dict[str, Any]]:
    """The entries of a manifest of ``folder`` by deployed name."""
    data = json.loads((folder / "__venvstacks__" / manifest).read_text(encoding="utf-8"))
    return {e["install_target"]: e for es in data["layers"].values() for e in es}
