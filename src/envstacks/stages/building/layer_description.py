"""Describe a built layer for the outside world, after checking it is built from its lock.

:func:`describe_built_layer` is the one place that does it: publish and ``local-export`` both
write what it returns (the venvstacks metadata fields that come from the spec, the locks and
the build; :mod:`envstacks.published.publish_folder` names the rest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from envstacks.floor.errors import EnvStacksError, PublishError
from envstacks.published.variant_table import variant_fields
from envstacks.stages.building.build_record import BuildRecord, require_current_build
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayeredSpec,
    LayerSpec,
    RuntimeSpec,
    StackSpec,
)
from envstacks.stages.stackspec.sourcetree import module_hash
from envstacks.stages.stackspec.variants import slot_name


class LockInfo(Protocol):
    """What publishing reads from a layer's lock state (a ``locking.LockState`` has it)."""

    @property
    def has_valid_lock(self) -> bool:
        """Whether the committed lock matches the spec."""

    @property
    def lock_version(self) -> int | None:
        """The lock version (``None`` without metadata)."""

    @property
    def locked_at(self) -> str | None:
        """When the layer was locked (UTC ISO 8601)."""

    @property
    def requirements_hash(self) -> str | None:
        """The lock's ``requirements_hash``."""

    @property
    def install_target(self) -> str:
        """The deployed folder name."""

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the lock is not valid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltLayer:
    """A built layer's description (the fields of §3.9.2) and the record of its current build."""

    metadata: dict[str, Any]
    build: BuildRecord


def describe_built_layer(
    spec: StackSpec,
    layer: LayerSpec,
    lock_states: Mapping[str, LockInfo],
    *,
    platform: str,
    error: type[EnvStacksError] = PublishError,
) -> BuiltLayer:
    """What publish and ``local-export`` record about a layer, which must be built from its lock.

    The fields are read from the locks of the layer and of the layers below it.

    Raises:
        EnvStacksError: (``error``) the layer or a layer below it has no valid lock.
        NotBuiltError: the layer was never built, or was built from another lock.
    """
    state = _lock(layer, lock_states, error)
    runtime = spec.runtime_of(layer)
    data: dict[str, Any] = {
        "layer_name": layer.build_name,
        "install_target": state.install_target,
        "requirements_hash": state.requirements_hash,
        "lock_version": state.lock_version if state.lock_version is not None else 1,
        "locked_at": state.locked_at,
        "runtime_layer": _lock(runtime, lock_states, error).install_target,
        "python_implementation": runtime.python_implementation,
        # Layered envs on Windows copy the runtime's executables; elsewhere they link to it.
        "bound_to_implementation": isinstance(layer, RuntimeSpec) or platform.startswith("win"),
    }
    if isinstance(layer, LayeredSpec):
        data["required_layers"] = [
            _lock(spec.layer(name), lock_states, error).install_target for name in layer.linearized
        ]
    if isinstance(layer, ApplicationSpec):
        data.update(_application_fields(layer))
    if isinstance(layer, FrameworkSpec) and layer.variant_of is not None:
        data.update(
            variant_fields(
                layer.variant_of, layer.variant or "", layer.select, slot_name(layer.variant_of)
            )
        )
    build = require_current_build(spec, layer, requirements_hash=state.requirements_hash)
    return BuiltLayer(metadata=data, build=build)


def _lock(
    layer: LayerSpec, lock_states: Mapping[str, LockInfo], error: type[EnvStacksError]
) -> LockInfo:
    state = lock_states.get(layer.build_name)
    if state is None or not state.has_valid_lock or state.locked_at is None:
        reasons = "; ".join(state.reasons) if state is not None and state.reasons else "no lock"
        raise error(
            f"layer {layer.build_name!r} ({layer.toml_path}) "
            f"cannot be published without a valid lock: {reasons}",
            hint=f"run `envstacks lock --include {layer.build_name}` and build it again",
        )
    return state


def _application_fields(layer: ApplicationSpec) -> dict[str, Any]:
    """What an application layer adds: its launch module and the hashes of its modules."""
    data: dict[str, Any] = {"app_launch_module": layer.module_name}
    if layer.launch_module is not None:
        data["app_launch_module_hash"] = module_hash(layer.launch_module)
    if layer.support_modules:
        data["app_support_modules"] = [
            {"name": path.stem, "hash": module_hash(path)} for path in layer.support_modules
        ]
    return data
