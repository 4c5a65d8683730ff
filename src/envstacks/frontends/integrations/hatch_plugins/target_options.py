"""The ``venvstacks`` build target's options: typed ``[tool.hatch.build.targets.venvstacks]``.

Every accessor checks its value and names the full TOML field when it is wrong, as
hatchling does for its own options. The generic target options (``directory``,
``versions``, ``dependencies``) keep hatchling's meaning, except that without a
``directory`` the archives go to the stack's ``output-dir`` setting, not to ``dist/``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from hatchling.builders.config import BuilderConfig

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec.model import StackSpec

#: How the target treats a missing or stale lock: relock it, or stop with an error.
LockPolicy = Literal["if-needed", "check"]
LOCK_POLICIES: tuple[LockPolicy, ...] = ("if-needed", "check")

#: The target's own options and an example value for each, for messages.
OPTION_EXAMPLES = {
    "include": '["app-*"]',
    "archive-format": '"tar.xz"',
    "compression": '"max"',
    "tag-outputs": "true",
    "lock": '"check"',
    "export-directory": '"_export"',
    "push-to": '"oci://ghcr.io/OWNER/STACK:1.0"',
    "push-insecure": "true",
    "push-mount-from": '["acme/base-stack"]',
    "delta-from": '["dist/previous"]',
}


class VenvstacksBuilderConfig(BuilderConfig):
    """``[tool.hatch.build.targets.venvstacks]``, checked and typed.

    ``include`` here selects layers (fnmatch patterns on build names, as ``--include`` in
    the CLI), not files: the target archives environments, it does not collect project files.
    """

    def field(self, key: str) -> str:
        """The full TOML path of one of this target's options."""
        return f"tool.hatch.build.targets.{self.plugin_name}.{key}"

    def _error(self, key: str, expected: str, value: Any) -> SpecError:
        return SpecError(
            f"Field `{self.field(key)}` must be {expected} (got {value!r})",
            hint=f"write it like {key} = {OPTION_EXAMPLES[key]}",
        )

    def _strings(self, key: str) -> tuple[str, ...]:
        """An option that is an array of non-empty strings (default: none)."""
        value = self.target_config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self._error(key, "an array of strings", value)
        return tuple(value)

    @cached_property
    def layers(self) -> tuple[str, ...]:
        """``include``: layer patterns to build and publish, with what they need (default: all)."""
        return self._strings("include")

    @cached_property
    def archive_format(self) -> str | None:
        """``archive-format``: the archive format (default: the stack's ``archive-format``)."""
        value = self.target_config.get("archive-format")
        if value is not None and (not isinstance(value, str) or not value):
            raise self._error("archive-format", "a string", value)
        return value

    @cached_property
    def compression(self) -> str | None:
        """``compression``: fast, default, max or a level (default: the stack's ``compression``)."""
        value = self.target_config.get("compression")
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if value not in ("fast", "default", "max"):
            raise self._error("compression", '"fast", "default", "max" or a level number', value)
        return str(value)

    @cached_property
    def tag_outputs(self) -> bool:
        """``tag-outputs``: add the platform and build number to archive and metadata names."""
        value = self.target_config.get("tag-outputs", False)
        if not isinstance(value, bool):
            raise self._error("tag-outputs", "a boolean", value)
        return value

    @cached_property
    def lock_policy(self) -> LockPolicy:
        """``lock``: ``"if-needed"`` relocks missing or stale locks (default), ``"check"`` fails."""
        value = self.target_config.get("lock", "if-needed")
        for policy in LOCK_POLICIES:
            if value == policy:
                return policy
        raise self._error("lock", 'either "if-needed" or "check"', value)

    @cached_property
    def push_to(self) -> str | None:
        """``push-to``: push the published layers to this ``oci://`` registry tag."""
        value = self.target_config.get("push-to")
        if value is None:
            return None
        from envstacks.stages.oci.reference import parse_reference  # noqa: PLC0415

        if not isinstance(value, str):
            raise self._error("push-to", "an oci://REGISTRY/REPOSITORY:TAG string", value)
        try:
            parse_reference(value)
        except ValueError as exc:
            raise self._error("push-to", f"an oci:// reference ({exc})", value) from exc
        return value

    @cached_property
    def delta_from(self) -> tuple[str, ...]:
        """``delta-from``: earlier publishes to write deltas from (folders, manifests, URLs)."""
        return self._strings("delta-from")

    @cached_property
    def push_mount_from(self) -> tuple[str, ...]:
        """``push-mount-from``: repositories of the same registry to mount blobs from."""
        return self._strings("push-mount-from")

    @cached_property
    def push_insecure(self) -> bool:
        """``push-insecure``: allow plain HTTP for a registry not on this machine."""
        value = self.target_config.get("push-insecure", False)
        if not isinstance(value, bool):
            raise self._error("push-insecure", "a boolean", value)
        return value

    @cached_property
    def export_directory(self) -> Path | None:
        """``export-directory``: where ``local-export`` exports (default: the ``export-dir``)."""
        value = self.target_config.get("export-directory")
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self._error("export-directory", "a string", value)
        return Path(self.normalize_build_directory(value))

    @cached_property
    def directory(self) -> str:
        """Where ``standard`` publishes: the target's ``directory``, else the ``output-dir``."""
        stack: StackSpec | None = getattr(self.builder, "stack", None)
        if "directory" in self.target_config or stack is None:
            return str(super().directory)
        return str(stack.settings.output_dir)
