"""What a deploy did: the layers installed, reused, adopted and refused, and the refusals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envstacks.floor.errors import EnvStacksError
from envstacks.stages.deploying.variant_choice import VariantChoice


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusedLayer:
    """A layer deploy would not install, and why."""

    install_target: str
    #: The full message (names the archive, the expected and the actual value...).
    reason: str
    #: The error class (``VerificationError``, ``UnsafeArchiveError``, ``DeployError``).
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerTransfer:
    """How a selected layer was deployed, and what that fetched from the source."""

    install_target: str
    #: ``full`` (its archive), ``delta`` (a delta over an installed version), ``reused``, or
    #: ``adopted`` (found in place, deployed by another tool, with its archive's files).
    method: Literal["full", "delta", "reused", "adopted"]
    #: Bytes fetched from the source (downloaded from a URL or registry, read from a folder):
    #: archives, deltas and file indexes; a delta that was not used counts too.
    downloaded_bytes: int = 0
    #: For a delta: the installed layer it was applied to.
    base: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployResult:
    """The outcome of one deploy into one target folder (for messages and ``--json``)."""

    target: Path
    #: The manifest the layers came from (a path or URL).
    source: str
    #: Layers unpacked and configured by this run, in the order they were placed.
    installed: tuple[str, ...] = ()
    #: Layers already deployed from the same archive, left as they were.
    reused: tuple[str, ...] = ()
    #: Layers found in place that another tool deployed (venvstacks' procedure), holding
    #: their archive's files: recorded and configured again, nothing unpacked over them.
    adopted: tuple[str, ...] = ()
    refused: tuple[RefusedLayer, ...] = ()
    #: Per selected layer (refused ones aside): full, delta or reused, and the bytes fetched.
    transfers: tuple[LayerTransfer, ...] = ()
    #: The variant chosen for each framework with variants, and why.
    variants: tuple[VariantChoice, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every selected layer is now deployed."""
        return not self.refused

    def describe(self) -> list[str]:
        """One line per layer, for a front-end to print."""
        deltas = {t.install_target: t for t in self.transfers if t.method == "delta"}
        lines = [
            f"installed: {name} ({self.target / name})"
            + (f", from a delta of {deltas[name].downloaded_bytes} bytes" if name in deltas else "")
            for name in self.installed
        ]
        lines += [f"up to date: {name}" for name in self.reused]
        lines += [
            f"variant: {choice.framework} = {choice.variant} ({choice.install_target}): "
            f"{choice.reason}"
            for choice in self.variants
        ]
        lines += [
            f"adopted: {name} (deployed by another tool, same files)" for name in self.adopted
        ]
        lines += [f"refused: {entry.install_target}: {entry.reason}" for entry in self.refused]
        return lines


class Refusals:
    """The layers refused so far, each with the error that refused it."""

    def __init__(self) -> None:
        self._errors: dict[str, EnvStacksError] = {}

    def add(self, install_target: str, error: EnvStacksError) -> None:
        """Refuse a layer (its error is what the result and the combined error report)."""
        self._errors[install_target] = error

    def __contains__(self, install_target: object) -> bool:
        return install_target in self._errors

    def __bool__(self) -> bool:
        return bool(self._errors)

    def entries(self) -> tuple[RefusedLayer, ...]:
        """The refusals as result values."""
        return tuple(
            RefusedLayer(install_target=name, reason=error.message, error=type(error).__name__)
            for name, error in self._errors.items()
        )

    def combined(self) -> EnvStacksError:
        """One error of the first refusal's class that lists every refusal."""
        first = next(iter(self._errors.values()))
        messages = (error.message for error in self._errors.values())
        return type(first)("\n".join(messages), hint=first.hint)
