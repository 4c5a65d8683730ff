"""The project's own distribution as a layer requirement: detect it, read its wheel, mark its entry.

In pyproject mode a layer may require the project being developed. The front-end builds the
project's wheel and passes it as ``LockOptions.project_wheel``; the lock resolves the project's
dependencies like any others but records the project itself without a version, wheel or hash
(see :mod:`envstacks.stages.locking.pylock`), so editing the project does not make its lock stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envstacks.floor.errors import LockError
from envstacks.stages.locking.pylock import PROJECT_CLAUSE, add_clause
from envstacks.stages.locking.requirements import canonical, requirement_name
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


def project_key(spec: StackSpec) -> str | None:
    """The project's normalised distribution name (pyproject mode only)."""
    return canonicalize_name(spec.project_name) if spec.project_name else None


def requires_project(spec: StackSpec, layer: LayerSpec) -> bool:
    """Whether one of the layer's requirements is the project's own distribution."""
    key = project_key(spec)
    return key is not None and any(requirement_name(req) == key for req in layer.requirements)


def wheel_requires_dist(wheel: Path) -> tuple[str, ...]:
    """The ``Requires-Dist`` entries of a wheel's metadata, in packaging's spelling.

    Raises:
        LockError: the file is not a readable wheel.
    """
    import zipfile  # noqa: PLC0415 - only reading a wheel needs it

    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next(
                (
                    n
                    for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                ),
                None,
            )
            if name is None:
                raise LockError(f"{wheel}: not a wheel (no *.dist-info/METADATA inside)")
            metadata = archive.read(name)
    except (OSError, zipfile.BadZipFile) as exc:
        raise LockError(
            f"cannot read the project's wheel {wheel}: {exc}",
            hint="rebuild the project's wheel (the front-end builds it before locking)",
        ) from exc
    # packaging's own reader of core metadata (RFC 822 headers, any metadata version); it
    # imports the email package, so it loads only when a wheel is read.
    from packaging.metadata import parse_email  # noqa: PLC0415

    raw, _ = parse_email(metadata)
    return tuple(canonical(req) for req in raw.get("requires_dist", []))


def project_entry(name: str, marker: str, requires_dist: tuple[str, ...]) -> dict[str, Any]:
    """The lock entry of the project: unmatchable for installers, marked for the build step."""
    return {
        "name": name,
        "marker": add_clause(marker, PROJECT_CLAUSE),
        "tool": {"envstacks": {"project": True, "requires-dist": list(requires_dist)}},
    }
