"""Target platforms: their names, marker environments, uv platform strings and the host's own."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from envstacks.floor.errors import PlatformError

if TYPE_CHECKING:
    from envstacks.stages.stackspec.model import LayerSpec

#: Every target platform a layer may name in ``platforms`` (venvstacks' six).
TARGET_PLATFORMS: tuple[str, ...] = (
    "linux_aarch64",
    "linux_x86_64",
    "macosx_arm64",
    "macosx_x86_64",
    "win_amd64",
    "win_arm64",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformInfo:
    """What a target platform means for markers, wheel tags and uv."""

    name: str
    os_name: str
    sys_platform: str
    platform_system: str
    platform_machine: str
    #: The architecture as it appears in wheel tags (``x86_64``, ``aarch64``, ``arm64``, ``amd64``).
    wheel_arch: str
    #: uv's ``--python-platform`` architecture prefix.
    uv_arch: str

    @property
    def is_linux(self) -> bool:
        """Whether this is a Linux target."""
        return self.sys_platform == "linux"

    @property
    def is_macos(self) -> bool:
        """Whether this is a macOS target."""
        return self.sys_platform == "darwin"

    @property
    def is_windows(self) -> bool:
        """Whether this is a Windows target."""
        return self.sys_platform == "win32"


PLATFORMS: dict[str, PlatformInfo] = {
    "linux_x86_64": PlatformInfo(
        name="linux_x86_64",
        os_name="posix",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        wheel_arch="x86_64",
        uv_arch="x86_64",
    ),
    "linux_aarch64": PlatformInfo(
        name="linux_aarch64",
        os_name="posix",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="aarch64",
        wheel_arch="aarch64",
        uv_arch="aarch64",
    ),
    "macosx_arm64": PlatformInfo(
        name="macosx_arm64",
        os_name="posix",
        sys_platform="darwin",
        platform_system="Darwin",
        platform_machine="arm64",
        wheel_arch="arm64",
        uv_arch="aarch64",
    ),
    "macosx_x86_64": PlatformInfo(
        name="macosx_x86_64",
        os_name="posix",
        sys_platform="darwin",
        platform_system="Darwin",
        platform_machine="x86_64",
        wheel_arch="x86_64",
        uv_arch="x86_64",
    ),
    "win_amd64": PlatformInfo(
        name="win_amd64",
        os_name="nt",
        sys_platform="win32",
        platform_system="Windows",
        platform_machine="AMD64",
        wheel_arch="amd64",
        uv_arch="x86_64",
    ),
    "win_arm64": PlatformInfo(
        name="win_arm64",
        os_name="nt",
        sys_platform="win32",
        platform_system="Windows",
        platform_machine="arm64",
        wheel_arch="arm64",
        uv_arch="aarch64",
    ),
}

#: ``python_implementation`` prefixes and the marker values they imply.
IMPLEMENTATIONS: dict[str, str] = {"cpython": "CPython", "pypy": "PyPy"}


def uv_python_platform(platform: str, *, linux_glibc: tuple[int, int]) -> str:
    """Uv's ``--python-platform`` value for a target platform."""
    info = PLATFORMS[platform]
    if info.is_linux:
        return f"{info.uv_arch}-manylinux_{linux_glibc[0]}_{linux_glibc[1]}"
    if info.is_macos:
        return f"{info.uv_arch}-apple-darwin"
    return f"{info.uv_arch}-pc-windows-msvc"


def marker_environment(
    platform: str, *, implementation: str, python_full_version: str
) -> dict[str, str]:
    """The PEP 508 marker environment of a target platform (for pruning cross-platform locks)."""
    info = PLATFORMS[platform]
    major_minor = ".".join(python_full_version.split(".")[:2])
    return {
        "implementation_name": implementation.lower(),
        "platform_python_implementation": IMPLEMENTATIONS.get(
            implementation.lower(), implementation
        ),
        "python_version": major_minor,
        "python_full_version": python_full_version,
        "os_name": info.os_name,
        "sys_platform": info.sys_platform,
        "platform_system": info.platform_system,
        "platform_machine": info.platform_machine,
        "platform_release": "",
        "platform_version": "",
        "implementation_version": python_full_version,
    }


_HOST_MACHINES: dict[str, dict[str, str]] = {
    "linux": {
        "x86_64": "linux_x86_64",
        "amd64": "linux_x86_64",
        "aarch64": "linux_aarch64",
        "arm64": "linux_aarch64",
    },
    "darwin": {"arm64": "macosx_arm64", "x86_64": "macosx_x86_64"},
    "win32": {"amd64": "win_amd64", "x86_64": "win_amd64", "arm64": "win_arm64"},
}


def machine() -> str:
    """This machine's architecture as the OS names it (``x86_64``, ``aarch64``, ``AMD64``)."""
    if hasattr(os, "uname"):  # POSIX: what platform.machine() returns, without importing it
        return os.uname().machine
    import platform  # noqa: PLC0415 - Windows only

    return platform.machine()


def host_platform() -> str | None:
    """The target-platform name of the machine we run on, or ``None`` if it is none of them."""
    system = "linux" if sys.platform.startswith("linux") else sys.platform
    return _HOST_MACHINES.get(system, {}).get(machine().lower())


def require_host_platform(what: str) -> str:
    """The target-platform name of this machine, for ``what`` (a sentence start).

    Raises:
        PlatformError: this machine is none of the target platforms.
    """
    host = host_platform()
    if host is None:
        raise PlatformError(
            f"{what}: this machine ({sys.platform}, {machine()}) is none of the "
            f"target platforms ({', '.join(TARGET_PLATFORMS)})",
            hint="build, publish and export on a machine of one of those platforms",
        )
    return host


def require_layer_platform(layer: LayerSpec, *, action: str = "build") -> str:
    """This machine's target platform, which ``layer`` must target (to ``action`` it here).

    Raises:
        PlatformError: this machine is no target platform, or the layer does not target it.
    """
    host = require_host_platform(f"layer '{layer.build_name}'")
    if not layer.targets(host):
        raise PlatformError(
            f"layer '{layer.build_name}' does not target {host} (platforms = "
            f"{list(layer.platforms)} in {layer.toml_path}); {action} it on one of those platforms",
            hint=f"{action} it on one of its platforms, or add {host!r} to its `platforms`",
        )
    return host
