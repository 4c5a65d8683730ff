"""The built-in variant selectors (``nvidia``, ``rocm``, ``cpu``, ``env``), registered as a plugin.

A selector answers one condition of a variant's ``select`` (``nvidia``, ``nvidia>=550``,
``cpu=x86-64-v3``) about this machine with a :class:`Verdict` and the reason, reading only
system files (under :attr:`System.root`, which tests point at a fake tree) and, for
``nvidia``, the NVML library when no driver file is found. Selectors never run code from
archives. Third-party plugins answer ``envstacks_variant_selectors()`` with objects of the
same shape; a selector named like a built-in replaces it.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from packaging.version import InvalidVersion, Version

from envstacks.floor.hookmarkers import hookimpl

#: Prefix of the environment variables that name a framework's variant.
ENV_PREFIX = "ENVSTACKS_VARIANT_"
#: x86-64 micro-architecture levels and the /proc/cpuinfo flags each adds.
X86_LEVELS: Mapping[str, frozenset[str]] = {
    "x86-64-v2": frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
    "x86-64-v3": frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"}),
    "x86-64-v4": frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
}
_NVIDIA_VERSION = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class System:
    """What selectors look at: the file-system root and the environment."""

    root: Path = Path("/")
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def path(self, absolute: str) -> Path:
        """``absolute`` (``/proc/cpuinfo``) under :attr:`root`."""
        return self.root / absolute.lstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """One selector expression of a variant, with the variant it belongs to."""

    selector: str
    #: ``>=``, ``<=``, ``==``, ``!=``, ``>``, ``<``, ``=`` or ``None`` (the bare name).
    op: str | None = None
    value: str | None = None
    framework: str
    variant: str

    @property
    def text(self) -> str:
        """The expression as written (``nvidia>=550``)."""
        return self.selector + (f"{self.op}{self.value}" if self.op else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether a condition holds here, and why (one phrase)."""

    matched: bool
    reason: str


class VariantSelector(Protocol):
    """A named selector: answers conditions about this machine."""

    @property
    def name(self) -> str:
        """The name variants use in ``select``."""
        ...

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        """Whether ``condition`` holds on ``system`` (may raise: the caller falls back)."""
        ...


def compare_version(found: str, condition: Condition) -> bool:
    """``found`` compared with the condition's version (a bare condition: always true)."""
    if condition.op is None or condition.value is None:
        return True
    try:
        left, right = Version(found), Version(condition.value)
    except InvalidVersion as exc:
        raise ValueError(f"cannot compare versions {found!r} and {condition.value!r}") from exc
    results = {
        ">=": left >= right,
        "<=": left <= right,
        ">": left > right,
        "<": left < right,
        "==": left == right,
        "=": left == right,
        "!=": left != right,
    }
    return results[condition.op]


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class NvidiaSelector:
    """An NVIDIA driver is loaded (``/proc/driver/nvidia/version``, else NVML); its version."""

    name: str = "nvidia"

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        """Compare the driver version found with the condition."""
        source = "/proc/driver/nvidia/version"
        text = _read(system.path(source))
        version = None
        looked = f"no {source}"
        if text is not None:
            match = _NVIDIA_VERSION.search(text)
            version = match.group(1) if match else None
            looked = f"{source} names no driver version"
        elif system.root == Path("/"):  # NVML only on the real system, never a test's root
            version, source = _nvml_driver_version(), "NVML"
            looked += ", no loadable libnvidia-ml"
        if version is None:
            return Verdict(matched=False, reason=f"no NVIDIA driver found ({looked})")
        held = compare_version(version, condition)
        return Verdict(matched=held, reason=f"NVIDIA driver {version} ({source})")


def _nvml_driver_version() -> str | None:
    """The driver version NVML reports, or None where the library is not installed."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        buffer = ctypes.create_string_buffer(96)
        if nvml.nvmlSystemGetDriverVersion(buffer, 96) != 0:
            return None
        return buffer.value.decode("ascii", "replace")
    finally:
        nvml.nvmlShutdown()


@dataclass(frozen=True, slots=True)
class RocmSelector:
    """A ROCm install (``/opt/rocm/.info/version``) or the amdgpu driver; their version."""

    name: str = "rocm"

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        """Compare the ROCm (or amdgpu driver) version found with the condition."""
        for source in ("/opt/rocm/.info/version", "/sys/module/amdgpu/version"):
            text = _read(system.path(source))
            if text is not None and text.strip():
                version = text.strip().split("-")[0]
                held = compare_version(version, condition)
                return Verdict(matched=held, reason=f"ROCm {version} ({source})")
        return Verdict(matched=False, reason="no ROCm install or amdgpu driver found")


@dataclass(frozen=True, slots=True)
class CpuSelector:
    """CPU features: ``cpu=x86-64-v3`` (a level) or ``cpu=avx512f`` (a /proc/cpuinfo flag)."""

    name: str = "cpu"

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        """Whether the CPU has the level or flag the condition names (bare ``cpu``: yes)."""
        if condition.value is None:
            return Verdict(matched=True, reason="every machine has a CPU")
        if condition.op not in ("=", "=="):
            raise ValueError(f"write cpu={condition.value} (features are not ordered)")
        text = _read(system.path("/proc/cpuinfo"))
        if text is None:
            raise ValueError("/proc/cpuinfo is missing")
        flags = _cpu_flags(text)
        wanted = _level_flags(condition.value) or frozenset({condition.value})
        missing = sorted(wanted - flags)
        if missing:
            return Verdict(
                matched=False, reason=f"the CPU lacks {', '.join(missing)} (/proc/cpuinfo)"
            )
        return Verdict(matched=True, reason=f"the CPU has {condition.value} (/proc/cpuinfo)")


def _cpu_flags(cpuinfo: str) -> frozenset[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _level_flags(level: str) -> frozenset[str]:
    """Every flag an x86-64 level needs (its own and the lower levels'), or empty."""
    if level not in X86_LEVELS:
        return frozenset()
    needed: set[str] = set()
    for name, flags in X86_LEVELS.items():
        needed |= flags
        if name == level:
            break
    return frozenset(needed)


def env_variable(framework: str) -> str:
    """``ENVSTACKS_VARIANT_<FRAMEWORK>``: the name upper-cased, other characters as ``_``."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", framework).upper()


@dataclass(frozen=True, slots=True)
class EnvSelector:
    """``ENVSTACKS_VARIANT_<FRAMEWORK>`` names this variant."""

    name: str = "env"

    def evaluate(self, condition: Condition, system: System) -> Verdict:
        """Whether the framework's variable names the condition's variant."""
        variable = env_variable(condition.framework)
        value = system.environ.get(variable)
        if value is None:
            return Verdict(matched=False, reason=f"{variable} is not set")
        return Verdict(matched=value == condition.variant, reason=f"{variable}={value}")


@hookimpl(trylast=True)
def envstacks_variant_selectors() -> Sequence[VariantSelector]:
    """The built-in selectors."""
    return (NvidiaSelector(), RocmSelector(), CpuSelector(), EnvSelector())
