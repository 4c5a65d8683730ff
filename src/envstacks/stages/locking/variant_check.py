"""Check that a layer locked over a framework's fallback variant installs over every other variant.

A layer above a framework with variants is locked once, against the fallback variant. Its
lock holds only its own packages; deploy may put any variant under it. For each other
variant, uv resolves the layer again with the variant's pins in place of the fallback's and
the layer's own locked versions pinned too: the lock is good over that variant when uv finds
a solution that needs nothing more than those packages. Otherwise the error names the
variant and what breaks (uv's explanation, or the packages the fallback gave and the variant
does not). A check that passed is remembered (a stamp of both locks' contents) so that an
unchanged stack runs no uv.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from envstacks.floor.errors import LockError
from envstacks.floor.fs import json_sha256, write_text
from envstacks.floor.report import Reporter
from envstacks.stages.locking import uvproject
from envstacks.stages.locking.project_dist import requires_project
from envstacks.stages.locking.pylock import LockedLayer, load_pylock
from envstacks.stages.locking.resolve import LockOptions, uv_export, uv_lock
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import FrameworkSpec, LayeredSpec, LayerSpec, StackSpec

#: The stamp of a passed check, in the check's generated project folder.
STAMP = "variant-check.json"


def variant_checks(
    spec: StackSpec, layer: LayerSpec
) -> tuple[tuple[FrameworkSpec, FrameworkSpec], ...]:
    """``(fallback, other variant)`` pairs ``layer`` must install over (empty: none)."""
    pairs: list[tuple[FrameworkSpec, FrameworkSpec]] = []
    for dep in spec.dependencies(layer):
        if isinstance(dep, FrameworkSpec) and dep.is_fallback and dep.variant_of:
            pairs.extend(
                (dep, other)
                for other in spec.variants_of(dep.variant_of)
                if other is not dep and other.enabled
            )
    return tuple(pairs)


def check_over_variants(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    python: Path,
    full_version: str,
    options: LockOptions,
    reporter: Reporter,
) -> None:
    """Check ``layer``'s lock over every variant of the frameworks below it.

    Raises:
        LockError: the layer's packages cannot be installed over a variant (the message names
            the variant and why).
    """
    for fallback, other in variant_checks(spec, layer):
        other_lock = stack_paths.pylock_path(spec, other)
        if not other_lock.exists():
            reporter.warning(
                f"{layer.build_name}: not checked over variant {other.variant!r} of framework "
                f"{other.variant_of!r}: {other.build_name} is not locked yet (lock it, then "
                f"lock {layer.build_name} again)"
            )
            continue
        _check_one(
            spec,
            layer,
            fallback,
            other,
            python=python,
            full_version=full_version,
            options=options,
            reporter=reporter,
        )


def _check_one(
    spec: StackSpec,
    layer: LayerSpec,
    fallback: FrameworkSpec,
    other: FrameworkSpec,
    *,
    python: Path,
    full_version: str,
    options: LockOptions,
    reporter: Reporter,
) -> None:
    assert isinstance(layer, LayeredSpec)
    own_path = stack_paths.pylock_path(spec, layer)
    own = load_pylock(own_path, layer=layer.build_name)
    probe = _over(layer, fallback, other, own)
    locks = {
        dep.build_name: load_pylock(stack_paths.pylock_path(spec, dep), layer=dep.build_name)
        for dep in spec.dependencies(probe)
    }
    stamp = json_sha256(
        {
            "layer": own_path.read_text("utf-8"),
            "variant": stack_paths.pylock_path(spec, other).read_text("utf-8"),
            "python": full_version,
        }
    )
    directory = stack_paths.resolve_project_dir(spec, probe)
    if _stamped(directory / STAMP, stamp):
        reporter.debug(f"{layer.build_name}: already checked over {other.build_name}")
        return
    what = (
        f"Layer {layer.build_name!r} was locked over the fallback variant "
        f"{fallback.variant!r} of framework {fallback.variant_of!r}, but its packages "
        f"cannot be installed over variant {other.variant!r} ({other.build_name})"
    )
    fix = (
        f"change {layer.toml_path}.requirements, or {other.toml_path}.requirements, so that "
        "every variant provides what the layers above need"
    )
    with reporter.task(layer.build_name, f"check over {other.build_name}"):
        project = uvproject.write_project(
            spec,
            probe,
            locks=locks,
            python_version=full_version,
            index=options.index,
            find_links=options.local_wheels,
            project_wheel=options.project_wheel if requires_project(spec, layer) else None,
        )
        try:
            uv_lock(project, python=python, layer=probe, reporter=reporter)
        except LockError as exc:
            explanation = str(exc).partition("\n")[2] or str(exc)
            raise LockError(f"{what}:\n{explanation}", hint=fix) from exc
        exported = uv_export(project, python=python, layer=probe, reporter=reporter)
    provided = {pin.key for pin in project.pins} | {
        pkg.key for pkg in own.packages if not pkg.shared
    }
    extra = sorted(
        f"{name}=={version}"
        for name, version in _exported(exported)
        if _key(name) not in provided and not _is_project(spec, name)
    )
    if extra:
        raise LockError(
            f"{what}: over it the layer would also need {', '.join(extra)}, which the "
            f"fallback variant provides and variant {other.variant!r} does not",
            hint=fix,
        )
    write_text(directory / STAMP, f'{{"stamp": "{stamp}"}}\n')
    reporter.debug(f"{layer.build_name}: installs over {other.build_name}")


def _over(
    layer: LayeredSpec, fallback: FrameworkSpec, other: FrameworkSpec, own: LockedLayer
) -> LayeredSpec:
    """The layer as if locked over ``other``: its own locked versions required exactly."""
    pins = tuple(pkg.requirement for pkg in own.packages if not pkg.shared and not pkg.project)
    return dataclasses.replace(
        layer,
        name=f"{layer.name}.over.{other.build_name}",
        linearized=tuple(
            other.build_name if name == fallback.build_name else name for name in layer.linearized
        ),
        requirements=(*layer.requirements, *pins),
        package_indexes={**layer.package_indexes, **other.package_indexes},
        priority_indexes=tuple(dict.fromkeys((*other.priority_indexes, *layer.priority_indexes))),
    )


def _stamped(path: Path, stamp: str) -> bool:
    try:
        return stamp in path.read_text("utf-8")
    except OSError:
        return False


def _exported(path: Path) -> list[tuple[str, str]]:
    data = tomllib.loads(path.read_text("utf-8"))
    return [(str(pkg["name"]), str(pkg.get("version", "?"))) for pkg in data.get("packages", [])]


def _key(name: str) -> str:
    from packaging.utils import canonicalize_name  # noqa: PLC0415

    return str(canonicalize_name(name))


def _is_project(spec: StackSpec, name: str) -> bool:
    return spec.project_name is not None and _key(name) == _key(spec.project_name)
