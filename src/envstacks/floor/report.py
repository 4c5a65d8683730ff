"""The reporting protocol: how the core tells a front-end what it is doing and how far it got.

Core code never prints. It calls a :class:`Reporter`; the CLI and the PDM front-end render it
with rich, the Hatch builder through Hatch's ``app``, and tests collect the calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

#: Verbosity levels: -q, default, -v.
QUIET, NORMAL, VERBOSE = -1, 0, 1
#: The ``unit`` of a task whose amounts are bytes (packing, unpacking, transfers): front-ends
#: show its progress as sizes with a rate, and its end line with the bytes and the rate.
BYTES = "bytes"


def plural(count: int, noun: str) -> str:
    """``"1 package"``, ``"2 packages"``, ``"0 packages"``: a count and its noun, for messages."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Task(Protocol):
    """One long step for one layer (locking, installing, packing, unpacking)."""

    def advance(self, amount: int = 1) -> None:
        """Record that ``amount`` more units of work are done."""

    def set_total(self, total: int | None) -> None:
        """Set (or clear) the number of units the step will take."""

    def note(self, text: str) -> None:
        """Replace the short status text shown beside the step."""

    def __enter__(self) -> Task:
        """Show the step."""

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Finish the step (successfully or not)."""


class Reporter(Protocol):
    """Receives messages and progress from the core."""

    def info(self, message: str) -> None:
        """A normal message (shown unless quiet)."""

    def warning(self, message: str) -> None:
        """Something the user should look at; never fatal."""

    def debug(self, message: str) -> None:
        """Detail shown with ``-v`` (commands run, decisions taken)."""

    def task(self, layer: str, action: str, total: int | None = None, *, unit: str = "") -> Task:
        """Start a step for ``layer``; use the result as a context manager.

        ``unit`` is :data:`BYTES` when the amounts are bytes, else empty (a count of items).
        """


def progress_to(task: Task) -> Callable[[int], None]:
    """A callback taking the units done so far (a transfer's bytes) that advances ``task``.

    Counts that do not grow (a transfer started again) advance nothing.
    """
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        if done > reported:
            task.advance(done - reported)
            reported = done

    return progress


def started_line(label: str) -> str:
    """The line a front-end prints when a long step starts (``app-x: pack tar.zst...``)."""
    return f"{label}..."


def size_text(count: float) -> str:
    """A byte count for people: ``"512 B"``, ``"12.3 MB"``, ``"1.90 GB"`` (powers of 1000)."""
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if count >= limit:
            value = count / limit
            return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    return f"{count:.0f} B"


def finished_line(
    label: str, seconds: float, *, failed: bool, done_bytes: int | None = None
) -> str:
    """The line a front-end prints when a long step ends (with its bytes and rate, if any)."""
    if failed:
        return f"{label}: failed after {seconds:.1f} s"
    line = f"{label}: done in {seconds:.1f} s"
    if done_bytes:
        line += f" ({size_text(done_bytes)}, {size_text(done_bytes / max(seconds, 1e-3))}/s)"
    return line


class _LineTask:
    def __init__(self, reporter: LineReporter, label: str, unit: str) -> None:
        self._reporter = reporter
        self._label = label
        self._bytes = unit == BYTES
        self._done = 0
        self._started = 0.0

    def __enter__(self) -> _LineTask:
        self._started = time.monotonic()
        self._reporter.line(NORMAL, started_line(self._label))
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        elapsed = time.monotonic() - self._started
        done = self._done if self._bytes else None
        self._reporter.line(
            NORMAL,
            finished_line(self._label, elapsed, failed=exc_type is not None, done_bytes=done),
        )

    def advance(self, amount: int = 1) -> None:
        self._done += amount

    def set_total(self, total: int | None) -> None:
        pass

    def note(self, text: str) -> None:
        self._reporter.line(VERBOSE, f"{self._label}: {text}")


class LineReporter:
    """A reporter that writes plain lines (no colours, no live display) to a text stream.

    What a front-end uses when its output is not a terminal (CI logs, ``| tee``): every long
    step prints a line when it starts and one when it ends, as the Hatch front-end does.
    """

    def __init__(self, stream: TextIO, verbosity: int = NORMAL) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self._lock = threading.Lock()

    def line(self, level: int, text: str) -> None:
        """Write ``text`` if the verbosity shows ``level``."""
        if self.verbosity >= level:
            with self._lock:
                self.stream.write(text + "\n")
                self.stream.flush()

    def info(self, message: str) -> None:
        """A normal message (hidden by -q)."""
        self.line(NORMAL, message)

    def warning(self, message: str) -> None:
        """A warning (always shown)."""
        self.line(QUIET, f"warning: {message}")

    def debug(self, message: str) -> None:
        """Detail shown with -v."""
        self.line(VERBOSE, message)

    def task(
        self, layer: str, action: str, total: int | None = None, *, unit: str = ""
    ) -> _LineTask:
        """A step for one layer: a line when it starts and one when it ends (bytes, rate)."""
        return _LineTask(self, f"{layer}: {action}", unit)


class _NullTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def __enter__(self) -> _NullTask:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class NullReporter:
    """A reporter that drops everything (library use without a front-end)."""

    def info(self, message: str) -> None:
        """Drop the message."""

    def warning(self, message: str) -> None:
        """Drop the message."""

    def debug(self, message: str) -> None:
        """Drop the message."""

    def task(
        self, layer: str, action: str, total: int | None = None, *, unit: str = ""
    ) -> _NullTask:
        """Return a task that records nothing."""
        return _NullTask()


@dataclass
class _RecordedTask:
    reporter: RecordingReporter
    layer: str
    action: str
    total: int | None
    unit: str = ""
    done: int = 0
    finished: bool = False

    def advance(self, amount: int = 1) -> None:
        with self.reporter.lock:
            self.done += amount

    def set_total(self, total: int | None) -> None:
        self.total = total

    def note(self, text: str) -> None:
        self.reporter.record("note", f"{self.layer}: {text}")

    def __enter__(self) -> _RecordedTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finished = True


@dataclass
class RecordingReporter:
    """A reporter that keeps every call, for tests and for ``--json`` summaries."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    tasks: list[_RecordedTask] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, level: str, message: str) -> None:
        """Keep one message."""
        with self.lock:
            self.messages.append((level, message))

    def info(self, message: str) -> None:
        """Keep an info message."""
        self.record("info", message)

    def warning(self, message: str) -> None:
        """Keep a warning."""
        self.record("warning", message)

    def debug(self, message: str) -> None:
        """Keep a debug message."""
        self.record("debug", message)

    def task(
        self, layer: str, action: str, total: int | None = None, *, unit: str = ""
    ) -> _RecordedTask:
        """Start and keep a task."""
        task = _RecordedTask(self, layer, action, total, unit)
        with self.lock:
            self.tasks.append(task)
        return task

    def texts(self, level: str | None = None) -> list[str]:
        """The messages recorded, optionally only those of one level."""
        return [text for lvl, text in self.messages if level is None or lvl == level]
