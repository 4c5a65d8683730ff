"""What a deploy did: the layers installed, reused and refused (for messages and ``--json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedLayer:
    """A layer deploy would not install, and why."""

    install_target: str
    #: The full message (names the archive, the expected and the actual value...).
    reason: str
    #: The error class (``VerificationError``, ``UnsafeArchiveError``, ``DeployError``).
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployResult:
    """The outcome of one deploy into one target folder."""

    target: Path
    #: The manifest the layers came from (a path or URL).
    source: str
    #: Layers unpacked and configured by this run, in the order they were placed.
    installed: tuple[str, ...] = ()
    #: Layers already deployed from the same archive, left as they were.
    reused: tuple[str, ...] = ()
    refused: tuple[RefusedLayer, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every selected layer is now deployed."""
        return not self.refused

    def describe(self) -> list[str]:
        """One line per layer, for a front-end to print."""
        lines = [f"installed: {name} ({self.target / name})" for name in self.installed]
        lines += [f"up to date: {name}" for name in self.reused]
        lines += [f"refused: {entry.install_target}: {entry.reason}" for entry in self.refused]
        return lines
