"""Render core output for people: a rich-backed Reporter with per-layer progress bars.

Live bars are drawn only on a terminal (and without ``--no-progress``); otherwise each step
prints a line when it starts and one when it ends, as :class:`envstacks.floor.report.LineReporter`
does, with the warnings and failures still in colour when colour is on.
"""

from __future__ import annotations

import threading
import time
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Task as RichProgressTask
from rich.text import Text

from envstacks.floor.report import (
    BYTES,
    NORMAL,
    QUIET,
    VERBOSE,
    finished_line,
    size_text,
    started_line,
)


def make_console(
    stream: IO[str] | None = None, *, stderr: bool = True, color: bool | None = None
) -> Console:
    """A console for messages (stderr by default, so stdout stays clean for results and JSON).

    ``color`` forces colour on or off (``None``: rich decides, honouring ``NO_COLOR``).
    """
    return Console(
        file=stream,
        stderr=stderr and stream is None,
        highlight=False,
        soft_wrap=True,
        no_color=None if color is None else not color,
        # Colour wanted where rich would not detect a terminal (``--color always`` in a log).
        force_terminal=True if color else None,
    )


class AmountColumn(ProgressColumn):
    """Items done of the total (``3/7``), or for a byte task sizes and rate (``1.2 GB/3.1 GB``)."""

    def render(self, task: RichProgressTask) -> Text:
        """The column's text for one task."""
        if task.fields.get("unit") != BYTES:
            total = "?" if task.total is None else str(int(task.total))
            return Text(f"{int(task.completed)}/{total}", style="progress.download")
        total = "?" if task.total is None else size_text(task.total)
        speed = task.finished_speed or task.speed
        rate = f" {size_text(speed)}/s" if speed else ""
        return Text(f"{size_text(task.completed)}/{total}{rate}", style="progress.download")


class _RichTask:
    def __init__(
        self, reporter: RichReporter, layer: str, action: str, total: int | None, unit: str
    ) -> None:
        self._reporter = reporter
        self._label = f"{layer}: {action}"
        self._total = total
        self._unit = unit
        self._done = 0
        self._id: TaskID | None = None
        self._started = 0.0

    def __enter__(self) -> _RichTask:
        self._started = time.monotonic()
        self._id = self._reporter.start_task(self._label, self._total, unit=self._unit)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        elapsed = time.monotonic() - self._started
        done = self._done if self._unit == BYTES else None
        self._reporter.finish_task(
            self._id, self._label, elapsed, failed=exc_type is not None, done_bytes=done
        )
        self._id = None

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        if self._id is not None:
            self._reporter.progress.advance(self._id, amount)

    def set_total(self, total: int | None) -> None:
        self._total = total
        if self._id is not None:
            self._reporter.progress.update(self._id, total=total)

    def note(self, text: str) -> None:
        if self._id is not None:
            self._reporter.progress.update(self._id, description=escape(f"{self._label} ({text})"))
        else:
            self._reporter.debug(f"{self._label}: {text}")


class RichReporter:
    """A :class:`envstacks.floor.report.Reporter` that prints to a rich console.

    With ``live``, tasks show as progress bars while they run (one row per layer step,
    several at once when layers are built or packed in parallel) and leave one summary line
    behind; without it, a task prints a line when it starts and one when it ends.
    """

    def __init__(
        self, console: Console | None = None, verbosity: int = NORMAL, *, live: bool = True
    ) -> None:
        self.console = console or make_console()
        self.verbosity = verbosity
        self.live = live and verbosity > QUIET and self.console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            AmountColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.live,
        )
        self._lock = threading.Lock()
        self._running = 0

    def info(self, message: str) -> None:
        """Print a message unless quiet."""
        if self.verbosity > QUIET:
            self.console.print(escape(message))

    def warning(self, message: str) -> None:
        """Print a warning (always)."""
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def debug(self, message: str) -> None:
        """Print detail with -v."""
        if self.verbosity >= VERBOSE:
            self.console.print(f"[dim]{escape(message)}[/dim]")

    def task(
        self, layer: str, action: str, total: int | None = None, *, unit: str = ""
    ) -> _RichTask:
        """A progress row for one layer step (sizes and rate when ``unit`` is bytes)."""
        return _RichTask(self, layer, action, total, unit)

    def start_task(self, label: str, total: int | None, *, unit: str = "") -> TaskID | None:
        """Show a progress row (starting the live display for the first one), or a start line."""
        if not self.live:
            if self.verbosity > QUIET:
                self.console.print(escape(started_line(label)))
            return None
        with self._lock:
            if self._running == 0:
                self.progress.start()
            self._running += 1
            return self.progress.add_task(escape(label), total=total, unit=unit)

    def finish_task(
        self,
        task_id: TaskID | None,
        label: str,
        elapsed: float,
        *,
        failed: bool,
        done_bytes: int | None = None,
    ) -> None:
        """Remove a progress row (if any) and leave a one-line summary."""
        if task_id is not None:
            with self._lock:
                self.progress.remove_task(task_id)
                self._running -= 1
                if self._running == 0:
                    self.progress.stop()
        if self.verbosity > QUIET:
            text = escape(finished_line(label, elapsed, failed=failed, done_bytes=done_bytes))
            self.console.print(f"[red]{text}[/red]" if failed else text)
