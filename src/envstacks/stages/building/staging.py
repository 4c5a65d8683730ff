"""Stage a deployable copy of a built layer: filtered, hard-linked, relinked for deployed names.

Publishing archives the staged tree and ``local-export`` runs it in place. The copy:

* hard-links every file of the build environment (copies where the file system refuses), and
  keeps symlinks as they are (the build made them relative);
* keeps the byte-compiled modules of a layer with ``precompile`` on: in ``__pycache__``
  folders, the pyc files whose source is kept as it is (not those of regenerated modules,
  which ``postinstall.py`` compiles on the target); a layer with ``precompile = false`` loses
  its ``__pycache__`` folders at any depth;
* leaves out ``pyvenv.cfg`` (``postinstall.py`` writes the deployed one) and top-level dot
  files;
* regenerates, as new files, what depends on folder names: the chaining module and the
  ``bin/python`` wrapper with its ``python_`` link (layered environments) and
  ``venvstacks_layer.json``, all naming lower layers by their install targets
  (``framework-sci@2``), not their build names;
* adds ``postinstall.py``, and for a precompiled layer the record of the interpreter that
  compiled it with the regenerated modules it ships uncompiled
  (``share/venv/metadata/envstacks_bytecode.json``), so that postinstall compiles those only.

Nothing in the staged tree names the build folder: the only absolute paths of a build
environment are in ``pyvenv.cfg`` (dropped); pyc files record paths relative to the layer
(:mod:`envstacks.stages.building.bytecode`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from envstacks._injected import postinstall
from envstacks.floor.fs import link_or_copy, remove_path, write_bytes, write_text
from envstacks.published.layer_config import (
    BYTECODE_RECORD,
    LAYER_CONFIG,
    POSTINSTALL,
    LayerConfig,
    read_layer_config,
    write_layer_config,
)
from envstacks.stages.building.chain import (
    BASE_LINK,
    CHAIN_MODULE,
    CHAIN_PTH,
    layer_config_for,
    write_chain,
    write_interpreter,
)
from envstacks.stages.stackspec.model import FrameworkSpec, LayerSpec, StackSpec
from envstacks.stages.stackspec.variants import slot_name


def postinstall_script() -> bytes:
    """The text of ``postinstall.py`` shipped in every layer."""
    return resources.files("envstacks._injected").joinpath("postinstall.py").read_bytes()


def deployed_config(
    spec: StackSpec, layer: LayerSpec, env_path: Path, install_targets: Mapping[str, str]
) -> LayerConfig:
    """The layer config of a built layer, with lower layers named by their install targets.

    A layer above a framework with variants names the framework's slot (``framework-accel``,
    :mod:`envstacks.stages.stackspec.variants`) instead of the fallback variant it was built
    on: deploy links the slot to the variant it chooses.
    """
    built = read_layer_config(env_path)
    slots = {
        dep.build_name: slot_name(dep.variant_of)
        for dep in spec.dependencies(layer)
        if isinstance(dep, FrameworkSpec) and dep.variant_of is not None
    }
    folders = {**install_targets, **slots}
    return layer_config_for(spec, layer, py_version=built.py_version, folders=folders)


def _regenerated(config: LayerConfig) -> set[str]:
    """Paths (relative to the layer) that staging writes itself rather than copies."""
    paths = {LAYER_CONFIG, POSTINSTALL, BYTECODE_RECORD, "pyvenv.cfg"}
    if config.layered:
        major, minor = config.py_version.split(".")[:2]
        paths |= {
            f"{config.site_dir}/{CHAIN_MODULE}.py",
            f"{config.site_dir}/{CHAIN_PTH}",
            "bin/python",
            f"bin/{BASE_LINK}",
            f"bin/python{major}",
            f"bin/python{major}.{minor}",
        }
    return paths


def copy_tree(source: Path, destination: Path, *, skip: set[str], bytecode: bool = False) -> int:
    """Hard-link (or copy) ``source`` into the new folder ``destination``, filtered.

    ``skip`` holds paths relative to ``source`` (POSIX form) left out. ``__pycache__`` folders
    are left out unless ``bytecode``; then they keep only the pyc files of kept sources
    (``name.<tag>.pyc`` beside a kept ``name.py``). Returns how many files were copied
    instead of linked.
    """
    destination.mkdir(parents=True)
    copy = _TreeCopy(skip=skip, bytecode=bytecode)
    copy.folder(os.fspath(source), os.fspath(destination), "")
    return copy.copies


class _TreeCopy:
    """One filtered copy, folder by folder (``os.scandir``: one system call per folder read)."""

    def __init__(self, *, skip: set[str], bytecode: bool) -> None:
        self.skip = skip
        self.bytecode = bytecode
        self.copies = 0

    def folder(self, source: str, destination: str, relative: str) -> None:
        """Copy the folder ``source`` (``relative`` to the tree) into existing ``destination``."""
        with os.scandir(source) as scan:
            entries = [
                (entry, f"{relative}/{entry.name}" if relative else entry.name)
                for entry in sorted(scan, key=lambda entry: entry.name)
            ]
        kept = [
            (entry, rel)
            for entry, rel in entries
            if rel not in self.skip and (relative or not entry.name.startswith("."))
        ]
        modules = {entry.name[:-3] for entry, _ in kept if entry.name.endswith(".py")}
        # Strings and os functions: pathlib would cost more than the system calls (thousands
        # of files per layer, on every export).
        for entry, rel in kept:
            target = f"{destination}/{entry.name}"
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)  # noqa: PTH115, PTH211
            elif not entry.is_dir():
                self.file(entry.path, target)
            elif entry.name != "__pycache__":
                os.mkdir(target)  # noqa: PTH102
                self.folder(entry.path, target, rel)
            elif self.bytecode:
                os.mkdir(target)  # noqa: PTH102
                self.cache(entry.path, target, modules)

    def cache(self, source: str, destination: str, modules: set[str]) -> None:
        """Copy the pyc files of ``modules`` (kept sources' names) from a ``__pycache__`` folder.

        Only ``name.<tag>.pyc``: an optimised (``.opt-1``) or foreign file is left out (the
        build compiles level 0 only), and so is the pyc of a source staging regenerates.
        """
        with os.scandir(source) as scan:
            for entry in scan:
                stem, _, rest = entry.name.partition(".")
                if rest.endswith(".pyc") and rest.count(".") == 1 and stem in modules:
                    self.file(entry.path, f"{destination}/{entry.name}")

    def file(self, source: str, destination: str) -> None:
        """Hard-link (or copy) one file."""
        if not link_or_copy(source, destination):
            self.copies += 1


def stage_layer(
    spec: StackSpec,
    layer: LayerSpec,
    env_path: Path,
    destination: Path,
    *,
    install_targets: Mapping[str, str],
) -> Path:
    """Make a deployable tree of the built layer at ``env_path`` in ``destination``.

    ``destination`` is replaced if it exists; it should be on the build folder's file system
    so files can be hard links. ``install_targets`` maps build names to deployed folder
    names (``{"framework-sci": "framework-sci@2"}``); names it lacks deploy unchanged.
    Returns ``destination``.
    """
    config = deployed_config(spec, layer, env_path, install_targets)
    remove_path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    copy_tree(env_path, destination, skip=_regenerated(config), bytecode=layer.precompile)
    if config.layered:
        write_chain(destination, config)
        write_interpreter(destination, config, platform=sys.platform)
    write_layer_config(destination, config)
    write_bytes(destination / POSTINSTALL, postinstall_script(), mode=0o644)
    if layer.precompile:
        _write_bytecode_record(env_path, destination, config)
    return destination


def _write_bytecode_record(env_path: Path, destination: Path, config: LayerConfig) -> None:
    """The build's bytecode record, plus the regenerated modules postinstall must compile.

    A regenerated module whose text is the built one (the lower layers keep their build names
    when deployed) keeps the pyc the build made: it is the same source, so the same bytes.
    Without a record in the build (it was not compiled), none is shipped and postinstall looks
    at every module.
    """
    record = postinstall.load_bytecode_record(os.fspath(env_path))
    if record is None:
        return
    regenerated = sorted(
        path
        for path in _regenerated(config)
        if path.startswith("lib/")
        and path.endswith(".py")
        and not _keep_built_pyc(env_path, destination, path, record["cache_tag"])
    )
    shipped = {"cache_tag": record["cache_tag"], "magic": record["magic"], "compile": regenerated}
    write_text(destination / BYTECODE_RECORD, json.dumps(shipped, indent=2, sort_keys=True) + "\n")


def _keep_built_pyc(env_path: Path, destination: Path, module: str, cache_tag: str) -> bool:
    """Link the build's pyc of the regenerated ``module`` if its text did not change."""
    built, staged = env_path / module, destination / module
    pyc = Path(module).parent / "__pycache__" / f"{Path(module).stem}.{cache_tag}.pyc"
    try:
        if not (env_path / pyc).is_file() or built.read_bytes() != staged.read_bytes():
            return False
    except FileNotFoundError:
        return False
    (destination / pyc).parent.mkdir(exist_ok=True)
    link_or_copy(env_path / pyc, destination / pyc)
    return True
