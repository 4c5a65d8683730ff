"""Build freshness: the ``<build-dir>/<layer>.last-build.json`` record and what a build must do.

A successful build records its inputs: the lock's ``requirements_hash``, the spec fields that
shape the environment, the application's module hashes, the project wheel's hash, the
runtime's version, and the ``build_id`` of every lower layer it was linked against. The
``build_id`` changes whenever what the layer ships changes. The next
build compares the current inputs with the record and picks the cheapest action that makes the
environment right:

* ``NONE``: nothing changed; no uv call, no file touched;
* ``RELINK``: only a lower layer was rebuilt (new ``build_id`` or runtime maintenance
  version): refresh ``pyvenv.cfg``, the chaining and the layer config, and run the checks;
* ``UPDATE``: the lock, the spec fields or the modules changed: sync the environment in place;
* ``CLEAN``: no usable environment (missing, no record, a different runtime or Python
  feature version, ``--clean``): delete and make it again.

The record is deleted when a build starts and written when it succeeds, so an interrupted
build is always redone from scratch.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypedDict

from envstacks.floor.errors import NotBuiltError
from envstacks.floor.fs import read_json, tagged_file_sha256, write_json
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    LayeredSpec,
    LayerSpec,
    RuntimeSpec,
    StackSpec,
)
from envstacks.stages.stackspec.sourcetree import module_hash

#: Bumped when the layout of built environments changes: older builds are made again.
RECORD_FORMAT = 1
#: Recorded with the inputs, known only after the build: the runtime's full version. Not
#: compared (a runtime change reaches upper layers as a lower layer's new build id), but part
#: of what publish hashes, as the layer config ships it.
BUILT_RUNTIME = "runtime_version"
#: Inputs whose change means the environment cannot be updated in place.
_CLEAN_KEYS = ("format", "kind", "platform", "py_version", "runtime", "python_implementation")


class RecordJSON(TypedDict):
    """The JSON form of a build record."""

    build_id: str
    inputs: dict[str, Any]
    links: dict[str, Any]
    runtime_version: str
    modules: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRecord:
    """What the last successful build of a layer was made from."""

    #: A fresh random token per build that changed the environment; upper layers record it.
    build_id: str
    #: Inputs that decide the environment's content.
    inputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Inputs that only decide its links to lower layers.
    links: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Full ``X.Y.Z`` of the runtime the layer runs on (its own for a runtime).
    runtime_version: str
    #: Top-level names copied into ``site-packages`` (application modules), to remove later.
    modules: tuple[str, ...] = ()

    def to_json(self) -> RecordJSON:
        """The record as JSON data."""
        return {
            "build_id": self.build_id,
            "inputs": dict(self.inputs),
            "links": dict(self.links),
            "runtime_version": self.runtime_version,
            "modules": list(self.modules),
        }


def new_build_id() -> str:
    """A new, unique build id."""
    return os.urandom(8).hex()


def read_record(spec: StackSpec, layer: LayerSpec) -> BuildRecord | None:
    """The record of the layer's last successful build, or ``None`` (missing or unreadable)."""
    data = read_json(stack_paths.last_build_path(spec, layer))
    if data is None:
        return None
    try:
        return BuildRecord(
            build_id=str(data["build_id"]),
            inputs=MappingProxyType(dict(data["inputs"])),
            links=MappingProxyType(dict(data["links"])),
            runtime_version=str(data["runtime_version"]),
            modules=tuple(str(name) for name in data.get("modules", ())),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def write_record(spec: StackSpec, layer: LayerSpec, record: BuildRecord) -> Path:
    """Write the record of a successful build."""
    path = stack_paths.last_build_path(spec, layer)
    write_json(path, record.to_json(), durable=False)
    return path


def require_current_build(
    spec: StackSpec, layer: LayerSpec, *, requirements_hash: object
) -> BuildRecord:
    """The record of the layer's last build, which must be made from its current lock.

    Raises:
        NotBuiltError: the layer was never built, or was built from another lock.
    """
    record = read_record(spec, layer)
    env = stack_paths.env_path(spec, layer)
    if record is None or not env.is_dir():
        raise NotBuiltError(
            f"layer {layer.build_name!r} ({layer.toml_path}) is not built: no environment "
            f"with a build record at {env}",
            hint=f"run `envstacks build --include {layer.build_name}` first",
        )
    if record.inputs.get("requirements_hash") != requirements_hash:
        raise NotBuiltError(
            f"layer {layer.build_name!r} was built from another lock "
            f"(built {record.inputs.get('requirements_hash')}, locked {requirements_hash})",
            hint=f"run `envstacks build --include {layer.build_name}` to bring it up to date",
        )
    return record


def forget_record(spec: StackSpec, layer: LayerSpec) -> None:
    """Delete the record (a build is starting: until it succeeds, nothing is known good)."""
    stack_paths.last_build_path(spec, layer).unlink(missing_ok=True)


def build_inputs(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    requirements_hash: str | None,
    platform: str,
    project_wheel: Path | None,
) -> dict[str, Any]:
    """The inputs that decide a layer environment's content (JSON data)."""
    runtime = spec.runtime_of(layer)
    fields: dict[str, Any] = {
        "requirements": list(layer.requirements),
        "dynlib_exclude": list(layer.dynlib_exclude),
        "linux_target": layer.linux_target,
        "macosx_target": layer.macosx_target,
        "precompile": layer.precompile,
        "scripts": None if layer.scripts is None else list(layer.scripts),
    }
    inputs: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "kind": layer.kind.value,
        "platform": platform,
        "py_version": runtime.py_version,
        "requirements_hash": requirements_hash,
        "spec": fields,
        "project_wheel": tagged_file_sha256(project_wheel) if project_wheel is not None else None,
    }
    if isinstance(layer, RuntimeSpec):
        inputs["python_implementation"] = layer.python_implementation
    if isinstance(layer, LayeredSpec):
        inputs["runtime"] = layer.runtime
        fields["linearized"] = list(layer.linearized)
        if layer.postinstall_script is not None:  # absent otherwise: earlier builds stay current
            script = layer.postinstall_script
            inputs["postinstall_script"] = {"name": script.name, "hash": module_hash(script)}
    if isinstance(layer, ApplicationSpec):
        fields["run_module"] = layer.run_module
        modules = [layer.launch_module] if layer.launch_module is not None else []
        modules += list(layer.support_modules)
        inputs["modules"] = {module.name: module_hash(module) for module in modules}
    return inputs


def link_inputs(spec: StackSpec, layer: LayerSpec) -> dict[str, Any] | None:
    """Build ids of the lower layers (``None`` if one of them has no successful build)."""
    lower: dict[str, str] = {}
    for dependency in spec.dependencies(layer):
        record = read_record(spec, dependency)
        if record is None:
            return None
        lower[dependency.build_name] = record.build_id
    return {"lower": lower}


class Action(enum.IntEnum):
    """What a build must do to a layer (ordered: a bigger one includes the smaller)."""

    NONE = enum.auto()
    RELINK = enum.auto()
    UPDATE = enum.auto()
    CLEAN = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The action a build takes for a layer, and why."""

    action: Action
    reason: str


def decide_from_record(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    inputs: Mapping[str, Any],
    links: Mapping[str, Any] | None,
    compare_project: bool = True,
) -> Decision:
    """Compare current inputs with the last build's record."""
    env = stack_paths.env_path(spec, layer)
    if not env.is_dir():
        return Decision(action=Action.CLEAN, reason="the environment does not exist")
    record = read_record(spec, layer)
    if record is None:
        return Decision(action=Action.CLEAN, reason="no record of a complete earlier build")
    old = dict(record.inputs)
    old.pop(BUILT_RUNTIME, None)
    new = dict(inputs)
    if not compare_project:
        old.pop("project_wheel", None)
        new.pop("project_wheel", None)
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    if clean := [key for key in changed if key in _CLEAN_KEYS]:
        return Decision(action=Action.CLEAN, reason=f"{_describe(clean)} changed")
    if changed:
        return Decision(action=Action.UPDATE, reason=f"{_describe(changed, old, new)} changed")
    if links is None:
        return Decision(action=Action.RELINK, reason="a lower layer has no complete build")
    if dict(record.links) != dict(links):
        rebuilt = sorted(
            name
            for name, build_id in links.get("lower", {}).items()
            if record.links.get("lower", {}).get(name) != build_id
        )
        return Decision(
            action=Action.RELINK,
            reason=f"lower layer{'s' if len(rebuilt) > 1 else ''} "
            f"{', '.join(repr(n) for n in rebuilt)} rebuilt",
        )
    return Decision(action=Action.NONE, reason="up to date")


def _describe(
    keys: list[str], old: Mapping[str, Any] | None = None, new: Mapping[str, Any] | None = None
) -> str:
    names = []
    for key in keys:
        if key == "spec" and old is not None and new is not None:
            before, after = old.get("spec", {}), new.get("spec", {})
            names += [
                f"spec field {name!r}"
                for name in sorted(before.keys() | after.keys())
                if before.get(name) != after.get(name)
            ]
        elif key == "modules":
            names.append("application modules")
        else:
            names.append(key.replace("_", " "))
    return ", ".join(names)
