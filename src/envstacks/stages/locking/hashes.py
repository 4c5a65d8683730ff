"""The input and output hashes recorded in lock metadata, with venvstacks' exact formulas.

Every hash is ``"sha256:" + sha256(<the UTF-8 strings concatenated, no separator>)``, so
locks written by venvstacks 0.8 and by envstacks check each other as valid:

* ``lock_input_hash``: the declared requirements, cleaned and sorted;
* ``requirements_hash``: every entry of the lock file (name, pin, marker, index, wheel hashes);
* ``other_inputs_hash``: Python feature version, Linux/macOS targets, lower layer names;
* ``version_inputs_hash``: layer name, ``versioned`` and the application's module hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from envstacks.floor.fs import strings_sha256
from envstacks.floor.platforms import PLATFORMS
from envstacks.stages.locking.pylock import NO_INDEX, LockedLayer
from envstacks.stages.locking.requirements import clean_requirements
from envstacks.stages.stackspec.model import ApplicationSpec, LayeredSpec, LayerSpec, StackSpec
from envstacks.stages.stackspec.sourcetree import module_hash


def lock_input_hash(requirements: Sequence[str]) -> str:
    """The hash of a layer's declared requirements (``["scipy"]`` -> ``sha256:b9178063…``)."""
    return strings_sha256(clean_requirements(requirements))


def requirements_hash_inputs(locked: LockedLayer) -> list[str]:
    """What ``requirements_hash`` covers, sorted.

    One ``"<name>==<version>[ ; <marker>] from <index>"`` string per package (the shared
    clause removed), then ``"<wheel file>:<algorithm>:<hash>"`` per wheel hash. URLs, sizes and
    upload times are left out, so a mirror or a re-export does not change the hash. The
    project's own entry is left out too: it is built at install time, so editing the project
    must not invalidate its lock.
    """
    items: list[str] = []
    for pkg in locked.packages:
        if pkg.project:
            continue
        items.append(f"{pkg.requirement} from {pkg.index or NO_INDEX}")
        for wheel in pkg.wheels:
            items.extend(f"{wheel.name}:{alg}:{digest}" for alg, digest in wheel.hashes.items())
    return sorted(items)


def requirements_hash(locked: LockedLayer) -> str:
    """The hash of a parsed layer lock (see :func:`requirements_hash_inputs`)."""
    return strings_sha256(requirements_hash_inputs(locked))


def targets_linux(layer: LayerSpec) -> bool:
    """Whether the layer targets any Linux platform."""
    return any(PLATFORMS[p].is_linux for p in layer.platforms)


def targets_macos(layer: LayerSpec) -> bool:
    """Whether the layer targets any macOS platform."""
    return any(PLATFORMS[p].is_macos for p in layer.platforms)


def other_inputs(spec: StackSpec, layer: LayerSpec) -> tuple[str, ...]:
    """The inputs of ``other_inputs_hash``, in hash order.

    ``py_version=X.Y``; ``linux_target=...`` and ``macosx_target=...`` when the layer targets
    those systems; then, for a layered env, the runtime's build name followed by the *base*
    names of its frameworks in ``sys.path`` order.
    """
    items = [f"py_version={spec.runtime_of(layer).py_version}"]
    if targets_linux(layer):
        items.append(f"linux_target={layer.linux_target}")
    if targets_macos(layer):
        items.append(f"macosx_target={layer.macosx_target}")
    if isinstance(layer, LayeredSpec):
        items.append(layer.runtime)
        items.extend(spec.layer(name).name for name in layer.linearized)
    return tuple(items)


def other_inputs_hash(spec: StackSpec, layer: LayerSpec) -> str:
    """The hash of :func:`other_inputs`."""
    return strings_sha256(other_inputs(spec, layer))


def version_inputs(layer: LayerSpec) -> tuple[str, ...]:
    """The inputs of ``version_inputs_hash``: name, versioning, then the app's module hashes."""
    items = [f"env_name={layer.build_name}", f"is_versioned_layer={layer.versioned}"]
    if isinstance(layer, ApplicationSpec):
        if layer.launch_module is not None:
            items.append(module_hash(layer.launch_module))
        items.extend(module_hash(path) for path in layer.support_modules)
    return tuple(items)


def version_inputs_hash(layer: LayerSpec) -> str:
    """The hash of :func:`version_inputs` (it hashes the application's module files)."""
    return strings_sha256(version_inputs(layer))
