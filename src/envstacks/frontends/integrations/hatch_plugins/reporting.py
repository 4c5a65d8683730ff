"""Hatch's side of reporting: a Reporter that writes through Hatch's ``app``, and error display.

Both Hatch hosts hand plugins an ``app`` with the same ``display_*`` methods: hatchling's
``SafeApplication`` in the build environment (plain prints, ``HATCH_VERBOSE`` sets the level)
and Hatch's own ``Application`` for environment plugins (rich, with markup disabled, so
messages need no escaping). Progress shows as one line when a step starts and one when it
ends: Hatch has no progress bars for plugins, and the build runs in a subprocess whose output
Hatch passes through line by line.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, NoReturn, Protocol

from envstacks.floor.errors import EnvStacksError
from envstacks.floor.report import BYTES, finished_line, started_line
from envstacks.frontends.cli import INTERRUPTED_MESSAGE, INTERRUPTED_STATUS


class HatchApp(Protocol):
    """The part of Hatch's and hatchling's ``app`` that envstacks uses (arguments by position)."""

    def display_info(self, message: str = "", /, **kwargs: Any) -> Any:
        """A normal message."""

    def display_waiting(self, message: str = "", /, **kwargs: Any) -> Any:
        """A message before a long step."""

    def display_success(self, message: str = "", /, **kwargs: Any) -> Any:
        """A step finished well."""

    def display_warning(self, message: str = "", /, **kwargs: Any) -> Any:
        """Something to look at."""

    def display_error(self, message: str = "", /, **kwargs: Any) -> Any:
        """Something failed."""

    def display_debug(self, message: str = "", level: int = 1, /, **kwargs: Any) -> Any:
        """Detail shown from verbosity ``level`` (1 to 3) up."""

    def abort(self, message: str = "", code: int = 1, /, **kwargs: Any) -> Any:
        """Print ``message`` and exit with ``code``."""


class _HatchTask:
    def __init__(
        self, app: HatchApp, layer: str, action: str, total: int | None, unit: str
    ) -> None:
        self._app = app
        self._label = f"{layer}: {action}"
        self._bytes = unit == BYTES
        self._total = total
        self._done = 0
        self._started = 0.0

    def __enter__(self) -> _HatchTask:
        self._started = time.monotonic()
        self._app.display_waiting(started_line(self._label))
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self._started
        failed = bool(exc) and exc[0] is not None
        show = self._app.display_error if failed else self._app.display_success
        done = self._done if self._bytes else None
        show(finished_line(self._label, elapsed, failed=failed, done_bytes=done))

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        if self._total:
            self._app.display_debug(f"{self._label}: {self._done}/{self._total}", 2)

    def set_total(self, total: int | None) -> None:
        self._total = total

    def note(self, text: str) -> None:
        self._app.display_debug(f"{self._label}: {text}")


class HatchReporter:
    """A :class:`envstacks.floor.report.Reporter` that writes through Hatch's ``app``."""

    def __init__(self, app: HatchApp) -> None:
        self.app = app

    def info(self, message: str) -> None:
        """Show a normal message (hidden by ``-q``)."""
        self.app.display_info(message)

    def warning(self, message: str) -> None:
        """Show a warning."""
        self.app.display_warning(f"warning: {message}")

    def debug(self, message: str) -> None:
        """Show detail with ``-v``."""
        self.app.display_debug(message)

    def task(
        self, layer: str, action: str, total: int | None = None, *, unit: str = ""
    ) -> _HatchTask:
        """A step for one layer: a line when it starts and one when it ends (bytes, rate)."""
        return _HatchTask(self.app, layer, action, total, unit)


def abort_with(app: HatchApp, error: EnvStacksError) -> NoReturn:
    """Show an envstacks error as Hatch shows its own (message, hint; traceback with -v); exit 1."""
    app.display_debug("".join(traceback.format_exception(error)).rstrip())
    message = f"error: {error.message}"
    if error.hint:
        message += f"\nhint: {error.hint}"
    app.abort(message, 1)
    # ``abort`` exits; this line only runs if a host's app does not.
    raise SystemExit(1)


def abort_interrupted(app: HatchApp) -> NoReturn:
    """End a Ctrl-C'd run as the standalone CLI does: ``interrupted``, exit status 130.

    Hatch (1.17.1 and later) leaves Ctrl-C to the build process and exits with its status.
    """
    app.abort(INTERRUPTED_MESSAGE, INTERRUPTED_STATUS)
    raise SystemExit(INTERRUPTED_STATUS)
