"""How the command-line front-ends print: reporter choice, colour, errors, interrupts.

The standalone CLI and ``pdm venvstacks`` share these, and ``hatch build -t venvstacks``
uses the same words for an interrupt, so the three front-ends look and exit alike:

* live progress bars only on a terminal and without ``--no-progress`` or ``-q``; elsewhere
  (CI logs, ``| tee``) a line when each long step starts and one when it ends;
* colour with ``--color always``, never with ``--color never``, and for ``auto`` on a
  terminal unless ``NO_COLOR`` is set (``FORCE_COLOR`` forces it), as uv and pip do;
* Ctrl-C: ``interrupted`` and exit status 130, no traceback.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

from envstacks.floor.errors import EnvStacksError

if TYPE_CHECKING:
    from envstacks.floor.report import Reporter

#: Exit status after Ctrl-C (128 + SIGINT), as shells and the other front-ends report it.
INTERRUPTED_STATUS = 130
#: What every front-end prints when interrupted.
INTERRUPTED_MESSAGE = "interrupted"


def use_color(choice: str, stream: TextIO) -> bool:
    """Whether to colour output to ``stream`` for a ``--color`` choice."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def make_reporter(verbosity: int, *, progress: bool = True, color: str = "auto") -> Reporter:
    """The reporter for standard error: rich when it is live or coloured, plain lines otherwise.

    Args:
        verbosity: ``report.QUIET``, ``NORMAL`` or ``VERBOSE``.
        progress: ``False`` for ``--no-progress``: start and end lines, no live bars.
        color: the ``--color`` choice.
    """
    from envstacks.floor.report import QUIET, LineReporter  # noqa: PLC0415 - loads when a verb runs

    stream = sys.stderr
    live = progress and verbosity > QUIET and stream.isatty()
    colored = use_color(color, stream)
    if live or colored:
        from envstacks.frontends.cli.console import RichReporter, make_console  # noqa: PLC0415

        return RichReporter(make_console(color=colored), verbosity=verbosity, live=live)
    return LineReporter(stream, verbosity)


#: The prefixes of an error's lines, coloured as uv colours them (bold red, bold cyan).
_ERROR = ("error:", "\x1b[1;31merror:\x1b[0m")
_HINT = ("hint:", "\x1b[1;36mhint:\x1b[0m")


def report_error(
    stream: TextIO, error: BaseException, *, verbose: bool, color: bool = False
) -> None:
    """Print an error as a message and a hint; the traceback only when verbose.

    ``color`` (from :func:`use_color`) colours the ``error:`` and ``hint:`` prefixes.
    """
    if verbose:
        import traceback  # noqa: PLC0415 - only a verbose error needs it

        traceback.print_exception(error, file=stream)
    error_prefix, hint_prefix = _ERROR[color], _HINT[color]
    if isinstance(error, EnvStacksError):
        stream.write(f"{error_prefix} {error.message}\n")
        if error.hint:
            stream.write(f"{hint_prefix} {error.hint}\n")
    else:
        stream.write(f"{error_prefix} {error}\n")


def report_bug_hint(stream: TextIO, *, color: bool = False) -> None:
    """The hint after an error that is a bug (not an :class:`EnvStacksError`)."""
    stream.write(
        f"{_HINT[color]} this is a bug in envstacks or a plugin; rerun with -v to see the "
        "traceback and report it\n"
    )
