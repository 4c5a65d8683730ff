"""Decide from wheel file names whether a locked package can be installed on each target platform.

Only platform tags are checked (uv has already matched the Python version and ABI when it
locked for the runtime's ``requires-python``). The rules are venvstacks':

* a wheel tagged ``any`` installs everywhere;
* an exact target tag (``linux_x86_64``, ``win_amd64``...) is always accepted, which admits
  naive local builds;
* Linux: ``manylinux_X_Y_<arch>`` counts when ``(X, Y)`` is at most the layer's
  ``linux_target`` glibc; the legacy aliases ``manylinux2014`` (2.17), ``manylinux2010`` (2.12)
  and ``manylinux1`` (2.5) count as those versions; musllinux never counts (glibc targets);
* macOS: ``macosx_X_Y_<arch>`` counts when ``(X, Y)`` is at most ``macosx_target``;
  ``universal2`` covers both architectures, and the older fat tags cover Intel;
* Windows: only the exact tag counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from envstacks.floor.errors import LockError
from envstacks.floor.platforms import PLATFORMS

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_MACOS = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
#: macOS wheel architectures that run on each target architecture.
_MACOS_ARCHES = {
    "arm64": {"arm64", "universal2"},
    "x86_64": {"x86_64", "universal2", "intel", "fat64", "fat3", "fat32", "universal"},
}


def platform_tags(wheel_names: Iterable[str]) -> set[str]:
    """Every platform tag of the given wheel file names (compressed tag sets expanded)."""
    tags: set[str] = set()
    for name in wheel_names:
        try:
            _, _, _, wheel_tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        tags.update(tag.platform for tag in wheel_tags)
    return tags


def _linux_ok(tag: str, arch: str, glibc: tuple[int, int]) -> bool:
    match = _MANYLINUX.match(tag)
    if match:
        return match[3] == arch and (int(match[1]), int(match[2])) <= glibc
    legacy, _, tag_arch = tag.partition("_")
    return tag_arch == arch and legacy in _LEGACY_MANYLINUX and _LEGACY_MANYLINUX[legacy] <= glibc


def _macos_ok(tag: str, arch: str, macos: tuple[int, int]) -> bool:
    match = _MACOS.match(tag)
    if match is None:
        return False
    return match[3] in _MACOS_ARCHES[arch] and (int(match[1]), int(match[2])) <= macos


def supports(
    tags: set[str], platform: str, *, linux_glibc: tuple[int, int], macosx_version: tuple[int, int]
) -> bool:
    """Whether wheels with these platform tags can be installed on a target platform."""
    if "any" in tags or platform in tags:
        return True
    info = PLATFORMS[platform]
    if info.is_linux:
        return any(_linux_ok(tag, info.wheel_arch, linux_glibc) for tag in tags)
    if info.is_macos:
        return any(_macos_ok(tag, info.wheel_arch, macosx_version) for tag in tags)
    return False


def missing_platforms(
    platforms: Iterable[str],
    wheel_names: Iterable[str],
    *,
    linux_glibc: tuple[int, int],
    macosx_version: tuple[int, int],
) -> tuple[str, ...]:
    """The target platforms (of those given) for which none of the wheels installs."""
    tags = platform_tags(wheel_names)
    return tuple(
        platform
        for platform in platforms
        if not supports(tags, platform, linux_glibc=linux_glibc, macosx_version=macosx_version)
    )


def availability_error(
    layer: str, toml_path: str, platforms: Sequence[str], missing: Mapping[str, Sequence[str]]
) -> LockError:
    """The error for packages lacking wheels on some target platforms, with the fix."""
    lines = [f"{layer}: Some packages did not have wheels for all target platforms:", ""]
    lacking: set[str] = set()
    for name, where in sorted(missing.items()):
        lines.append(f"  {name}: no wheels available for {sorted(where)!r}")
        lacking.update(where)
    workable = [platform for platform in platforms if platform not in lacking]
    if workable:
        fix = f"set {toml_path}.platforms = {workable!r} to limit the layer to available wheels"
    else:
        fix = (
            "there is no target platform with wheels for all packages: change the requirements, "
            "or provide wheels (an index, find-links or --local-wheels)"
        )
    lines.extend(["", f"Fix: {fix}."])
    return LockError("\n".join(lines))
