"""The standalone ``envstacks`` command line; the only place that maps errors to exit codes.

Exit status: 0 on success, 1 for a spec, stack or tool error (a message and a hint, no
traceback unless ``-v``), 2 for a usage error, 130 when interrupted. Parsing imports only the
verb modules (argparse definitions); stage code loads when a verb runs, so ``--version`` and
``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from envstacks import __version__
from envstacks.cli import build, deploy, export, lock, publish, show
from envstacks.cli._options import Invocation, Verb
from envstacks.errors import EnvStacksError

if TYPE_CHECKING:
    from envstacks.report import Reporter

__all__ = ["VERBS", "Invocation", "Verb", "build_parser", "main", "make_reporter", "verb"]

#: Every verb, in help order; the PDM command group registers the same ones.
VERBS: tuple[Verb, ...] = tuple(
    Verb.from_module(module) for module in (show, lock, build, publish, export, deploy)
)


def verb(name: str) -> Verb:
    """The verb called ``name``."""
    for candidate in VERBS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``envstacks`` with every verb."""
    parser = argparse.ArgumentParser(
        prog="envstacks",
        description="Lock, build, publish and deploy layered Python environments.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"envstacks {__version__}")
    _verbosity(parser)
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND", title="commands")
    for item in VERBS:
        sub = subparsers.add_parser(item.name, help=item.help, description=item.help)
        if item.uses_spec:
            sub.add_argument(
                "spec",
                nargs="?",
                type=Path,
                default=None,
                metavar="SPEC",
                help="a pyproject.toml with [tool.venvstacks], a venvstacks.toml, or a folder "
                "holding one (default: the current folder)",
            )
        item.add_arguments(sub)
        _verbosity(sub, suppress=True)
    return parser


def _verbosity(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """-v/-q, accepted before or after the verb."""
    default = argparse.SUPPRESS if suppress else 0
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more output; -v also shows tracebacks and the commands run",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="only warnings, errors and results",
    )


def make_reporter(verbosity: int) -> Reporter:
    """Live progress with rich on a terminal; plain start and end lines anywhere else."""
    from envstacks.report import LineReporter  # noqa: PLC0415 - loads when a verb runs

    if sys.stderr.isatty():
        from envstacks.cli.console import RichReporter  # noqa: PLC0415

        return RichReporter(verbosity=verbosity)
    return LineReporter(sys.stderr, verbosity)


def report_error(stream: TextIO, error: BaseException, *, verbose: bool) -> None:
    """Print an error as a message and a hint; the traceback only when verbose."""
    if verbose:
        import traceback  # noqa: PLC0415 - only a verbose error needs it

        traceback.print_exception(error, file=stream)
    if isinstance(error, EnvStacksError):
        stream.write(f"error: {error.message}\n")
        if error.hint:
            stream.write(f"hint: {error.hint}\n")
    else:
        stream.write(f"error: {error}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``envstacks`` and return its exit status."""
    parser = build_parser()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        parser.print_help(sys.stderr)
        return 2
    try:
        opts = parser.parse_args(args)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if opts.verb is None:
        parser.print_help(sys.stderr)
        return 2
    return _execute(verb(opts.verb), opts)


def _execute(chosen: Verb, opts: argparse.Namespace) -> int:
    """Run a parsed verb with the CLI's reporter, wheel builder and plugins."""
    import functools  # noqa: PLC0415 - stage code and rich load only when a verb runs

    import pluggy  # noqa: PLC0415

    from envstacks import spec, uvrun  # noqa: PLC0415
    from envstacks.hooks import get_plugin_manager  # noqa: PLC0415
    from envstacks.report import NORMAL, QUIET, VERBOSE  # noqa: PLC0415

    verbosity = QUIET if opts.quiet else (VERBOSE if opts.verbose else NORMAL)
    reporter = make_reporter(verbosity)
    spec_arg: Path | None = getattr(opts, "spec", None)
    invocation = Invocation(
        load_spec=lambda: spec.load(spec_arg),
        reporter=reporter,
        out=sys.stdout,
        pm_factory=get_plugin_manager,
        project_wheel_builder=functools.partial(uvrun.build_wheel, reporter=reporter),
    )
    try:
        return chosen.run(invocation, opts)
    except (EnvStacksError, pluggy.PluginValidationError) as error:
        report_error(sys.stderr, error, verbose=bool(opts.verbose))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as error:  # a bug: say so briefly; -v shows where
        report_error(sys.stderr, error, verbose=bool(opts.verbose))
        if not opts.verbose:
            sys.stderr.write(
                "hint: this is a bug in envstacks or a plugin; rerun with -v to see "
                "the traceback and report it\n"
            )
        return 1
