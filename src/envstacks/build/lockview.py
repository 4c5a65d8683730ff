"""What the build, stage and export steps read from a layer's lock state.

:class:`envstacks.lock.LockState` provides these attributes; the protocol keeps the build
independent of how the lock step computes them.
"""

from __future__ import annotations

from typing import Protocol


class LockView(Protocol):
    """The lock facts of one layer, computed without running uv."""

    @property
    def layer(self) -> str:
        """Build name of the layer."""

    @property
    def has_valid_lock(self) -> bool:
        """Whether the committed lock matches the spec and the lower layers' locks."""

    @property
    def lock_version(self) -> int | None:
        """The lock version (``None`` without lock metadata)."""

    @property
    def locked_at(self) -> str | None:
        """When the layer was locked (UTC ISO 8601)."""

    @property
    def requirements_hash(self) -> str | None:
        """The lock's ``requirements_hash`` (venvstacks' formula)."""

    @property
    def install_target(self) -> str:
        """The deployed folder name (``name`` or ``name@N``)."""

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the lock is not valid (empty when it is)."""
