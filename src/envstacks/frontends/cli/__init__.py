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

from envstacks import __version__
from envstacks.floor.errors import EnvStacksError
from envstacks.frontends.cli import build, deploy, export, lock, merge, publish, push, show
from envstacks.frontends.cli._options import Invocation, Verb, add_display_options, add_verbosity
from envstacks.frontends.cli._output import (
    INTERRUPTED_MESSAGE,
    INTERRUPTED_STATUS,
    make_reporter,
    report_bug_hint,
    report_error,
    use_color,
)
from envstacks.frontends.cli._parser import DOCS_URL, SuggestingParser

__all__ = [
    "DOCS_URL",
    "INTERRUPTED_MESSAGE",
    "INTERRUPTED_STATUS",
    "VERBS",
    "Invocation",
    "SuggestingParser",
    "Verb",
    "add_display_options",
    "build_parser",
    "main",
    "make_reporter",
    "report_error",
    "verb",
]

#: Every verb, in help order; the PDM command group registers the same ones.
VERBS: tuple[Verb, ...] = tuple(
    Verb.from_module(module) for module in (show, lock, build, publish, export, deploy, merge, push)
)

_EPILOG = f"""\
examples:
  # see the layers of the stack in the current folder
  envstacks show
  # lock what is missing or stale, build every layer, publish the archives
  envstacks build --lock-if-needed --publish
  # install the published layers somewhere else
  envstacks deploy dist/venvstacks --target _deploy

Run `envstacks COMMAND --help` for a command's options and examples.
docs: {DOCS_URL}"""


def verb(name: str) -> Verb:
    """The verb called ``name``."""
    for candidate in VERBS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``envstacks`` with every verb.

    With ``only`` (a verb's name, or ``""`` for none), the other verbs are listed but get no
    options: a command line is parsed without building the options of verbs it does not name
    (``envstacks --help`` lists the verbs by their one-line help alone).
    """
    parser = SuggestingParser(
        prog="envstacks",
        description="Lock, build, publish and deploy layered Python environments.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("-V", "--version", action="version", version=f"envstacks {__version__}")
    add_verbosity(parser)
    add_display_options(parser)
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND", title="commands")
    for item in VERBS:
        sub = subparsers.add_parser(item.name, help=item.help)
        if only is not None and item.name != only:
            continue
        item.describe(sub, parser.prog)
        if item.uses_spec:
            sub.add_argument(
                "spec",
                nargs="?",
                type=Path,
                default=None,
                metavar="SPEC",
                help="a pyproject.toml with [tool.venvstacks], a venvstacks.toml, or a folder "
                "holding one (default: the nearest one in the current folder or above it)",
            )
        item.add_arguments(sub)
        # The global options are accepted after the verb too.
        add_verbosity(sub, suppress=True)
        add_display_options(sub, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``envstacks`` and return its exit status.

    Without a command, the help goes to standard error and the status is 2 (a usage error),
    as for ``pdm venvstacks`` without a verb.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    # The first verb name is the verb: before it come only global options, whose values
    # (--color's) are never verb names. Without one, no verb's options are needed.
    names = {item.name for item in VERBS}
    parser = build_parser(only=next((arg for arg in args if arg in names), ""))
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
    import pluggy  # noqa: PLC0415 - stage code and rich load only when a verb runs

    from envstacks.floor.report import NORMAL, QUIET, VERBOSE  # noqa: PLC0415
    from envstacks.orchestrator.plugins import get_plugin_manager  # noqa: PLC0415
    from envstacks.orchestrator.project_wheel import pep517_builder  # noqa: PLC0415
    from envstacks.stages import stackspec as spec  # noqa: PLC0415

    verbosity = QUIET if opts.quiet else (VERBOSE if opts.verbose else NORMAL)
    reporter = make_reporter(verbosity, progress=opts.progress, color=opts.color)
    spec_arg: Path | None = getattr(opts, "spec", None)
    invocation = Invocation(
        load_spec=lambda: spec.load(spec_arg),
        reporter=reporter,
        out=sys.stdout,
        pm_factory=get_plugin_manager,
        project_wheel_builder=pep517_builder(reporter),
        quiet=bool(opts.quiet),
        verbose=bool(opts.verbose),
    )
    color = use_color(opts.color, sys.stderr)
    try:
        return chosen.run(invocation, opts)
    except (EnvStacksError, pluggy.PluginValidationError) as error:
        report_error(sys.stderr, error, verbose=bool(opts.verbose), color=color)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{INTERRUPTED_MESSAGE}\n")
        return INTERRUPTED_STATUS
    except Exception as error:  # a bug: say so briefly; -v shows where
        report_error(sys.stderr, error, verbose=bool(opts.verbose), color=color)
        if not opts.verbose:
            report_bug_hint(sys.stderr, color=color)
        return 1
