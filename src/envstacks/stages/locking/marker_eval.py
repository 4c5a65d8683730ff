"""Evaluate lock markers on a layer's target platforms (cross-platform locks, pruned per layer)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from packaging.markers import Marker

from envstacks.floor.platforms import marker_environment

#: ``{target platform: PEP 508 marker environment}``.
Environments = Mapping[str, Mapping[str, str]]


def environments(
    platforms: Iterable[str], *, implementation: str, python_full_version: str
) -> dict[str, dict[str, str]]:
    """The synthetic marker environment of each target platform.

    ``platform_release``, ``platform_version`` are empty and ``implementation_version`` is the
    Python version: a lock cannot know the target machine's kernel or OS build.
    """
    return {
        platform: marker_environment(
            platform, implementation=implementation, python_full_version=python_full_version
        )
        for platform in platforms
    }


def matching_platforms(marker: str, envs: Environments) -> tuple[str, ...]:
    """The target platforms on which ``marker`` holds (all of them for an empty marker)."""
    if not marker:
        return tuple(envs)
    parsed = Marker(marker)
    # "extra" is empty: lock entries apply to the layer itself, never to an extra of it.
    return tuple(
        platform for platform, env in envs.items() if parsed.evaluate({**env, "extra": ""})
    )


def covered_by(platforms: Sequence[str], markers: Iterable[str], envs: Environments) -> bool:
    """Whether, on each of ``platforms``, at least one of ``markers`` holds."""
    parsed = [Marker(marker) for marker in markers]
    return all(
        any(marker.evaluate({**envs[platform], "extra": ""}) for marker in parsed)
        for platform in platforms
    )
