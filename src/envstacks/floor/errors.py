"""The one exception hierarchy of envstacks; only front-ends turn these into exit codes."""

from __future__ import annotations


class EnvStacksError(Exception):
    """Root of every error envstacks raises on purpose.

    The message is complete on its own (it names the place, the bad value and the fix), so a
    front-end prints ``str(error)`` and needs no traceback. ``hint`` is an optional next step
    printed on a line of its own.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    @property
    def message(self) -> str:
        """The error text without the hint."""
        return str(self.args[0]) if self.args else ""


class SpecError(EnvStacksError, ValueError):
    """The stack specification (``[tool.venvstacks]`` or ``venvstacks.toml``) is invalid.

    ``toml_path`` (``frameworks[2].runtime``), when given, is the key the error is about: the
    loader finds its line in the spec file and names ``file:line`` in the message.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, toml_path: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.toml_path = toml_path


class SelectionError(EnvStacksError, ValueError):
    """A layer selection (``--include`` or ``--reset-lock`` pattern) cannot be honoured."""


class ToolError(EnvStacksError, RuntimeError):
    """An external tool (uv, patchelf, a Python interpreter) failed or is missing."""


class PlatformError(EnvStacksError, RuntimeError):
    """This machine is none of the target platforms, or a layer does not target it."""


class NotBuiltError(EnvStacksError, RuntimeError):
    """A layer that must be built first (to publish or export it) has no current build."""


class LockError(EnvStacksError, RuntimeError):
    """A layer could not be locked, or its lock is unusable."""


class RuntimeProvisionError(EnvStacksError, RuntimeError):
    """No Python runtime could be provided for a runtime layer."""


class BuildError(EnvStacksError, RuntimeError):
    """A layer environment could not be built."""


class PublishError(EnvStacksError, RuntimeError):
    """Layer archives or their metadata could not be written."""


class ExportError(EnvStacksError, RuntimeError):
    """Layers could not be exported to a local folder."""


class DeployError(EnvStacksError, RuntimeError):
    """Published layers could not be deployed."""


class VerificationError(DeployError):
    """An archive does not match the size or hash recorded in its manifest."""


class UnsafeArchiveError(DeployError):
    """An archive holds an entry that would escape or endanger the deployment folder."""


class BusyError(EnvStacksError, RuntimeError):
    """Another envstacks process holds a folder this run needs, and waiting for it timed out."""


class FileSystemError(EnvStacksError, OSError):
    """The file system refused a write: full, read-only, not permitted, or a name too long.

    Raised where a run holds its folders (:mod:`envstacks.floor.work_folders`) in place of the
    ``OSError``; the message names the folder and the fix. ``errno`` and ``filename`` are
    those of the original.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        errno: int | None = None,
        filename: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return self.message


class NoSpaceError(FileSystemError):
    """No space (or quota) left on the file system being written (``ENOSPC``, ``EDQUOT``)."""


class ReadOnlyError(FileSystemError):
    """The folder is on a read-only file system (``EROFS``)."""


class AccessDeniedError(FileSystemError):
    """The operating system does not let this user write there (``EACCES``, ``EPERM``)."""


class NameTooLongError(FileSystemError):
    """A file name or path is longer than the file system allows (``ENAMETOOLONG``)."""


class NotAFolderError(FileSystemError):
    """A file stands where a folder is needed (``EEXIST`` or ``ENOTDIR`` on making a folder)."""


class ReferenceSyntaxError(EnvStacksError, ValueError):
    """An ``oci://`` reference is malformed."""


class RegistryError(EnvStacksError, RuntimeError):
    """A registry refused or failed a request (the message names the registry and the request)."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        #: The HTTP status the registry answered with (``None``: no answer).
        self.status = status


class RegistryAuthError(RegistryError):
    """The registry wants credentials, or refused the ones given (HTTP 401 or 403)."""


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist (HTTP 404)."""


class MissingExtraError(EnvStacksError, RuntimeError):
    """Registry support needs the ``envstacks[oci]`` extra, which is not installed."""


class JSONDocumentError(EnvStacksError, ValueError):
    """A JSON document from outside is too large, nested too deeply, or not JSON at all."""


class SettingError(EnvStacksError, ValueError):
    """An environment variable envstacks reads holds a value it cannot use."""
