"""What every verb module shares without importing stage code: the Verb value and its options.

The standalone CLI and the PDM command group both build their parsers from the verb modules,
so the two front-ends take the same options and print the same output. Nothing here imports
the pipeline: building a parser (PDM does it at every ``pdm`` start) stays cheap.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from envstacks.frontends.cli._parser import epilog

if TYPE_CHECKING:
    import pluggy

    from envstacks.floor.report import Reporter
    from envstacks.orchestrator.project_wheel import WheelBuilder
    from envstacks.stages.stackspec.model import StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """What a front-end hands a verb: how to get the stack, where output goes, which plugins."""

    #: Loads the stack (from the SPEC argument in the CLI, from the project in PDM).
    load_spec: Callable[[], StackSpec]
    reporter: Reporter
    #: Where results (trees, JSON) are written: stdout.
    out: TextIO
    pm_factory: Callable[[], pluggy.PluginManager]
    #: Builds the project's own wheel when a layer requires the project (front-end specific).
    project_wheel_builder: WheelBuilder | None = None
    #: ``-q``: print no per-layer result lines (what ``--json`` or ``show`` asks for still is).
    quiet: bool = False
    #: ``-v``: results in full (``publish --dry-run``: each layer's metadata).
    verbose: bool = False
    #: How the user calls envstacks here, for the commands suggested (``pdm venvstacks``).
    prog: str = "envstacks"


#: A verb's handler: runs it and returns the exit status.
Handler = Callable[[Invocation, argparse.Namespace], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """One subcommand: its help, its arguments and its handler."""

    name: str
    #: One line, for the list of commands.
    help: str
    #: A few sentences for the verb's ``--help``.
    description: str
    #: ``(arguments, what they do)`` pairs, shown at the end of the verb's ``--help``.
    examples: tuple[tuple[str, str], ...]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler
    #: Whether the verb works on a stack spec (deploy works on published archives instead).
    uses_spec: bool = True

    @classmethod
    def from_module(cls, module: ModuleType) -> Verb:
        """The verb a verb module defines.

        A verb module has ``NAME``, ``HELP``, ``DESCRIPTION``, ``EXAMPLES``, ``add_arguments``
        and ``run`` (and ``USES_SPEC = False`` when it does not read a stack).
        """
        return cls(
            name=module.NAME,
            help=module.HELP,
            description=module.DESCRIPTION,
            examples=tuple(module.EXAMPLES),
            add_arguments=module.add_arguments,
            run=module.run,
            uses_spec=getattr(module, "USES_SPEC", True),
        )

    def describe(self, parser: argparse.ArgumentParser, prog: str) -> None:
        """Give the verb's parser its description and its epilog (examples, docs link).

        Abbreviated options are refused (``--lock`` must not stand for ``--lock-dependencies``).
        """
        parser.allow_abbrev = False
        parser.description = f"{self.help[0].upper()}{self.help[1:]}.\n\n{self.description}"
        parser.epilog = epilog(prog, [(f"{self.name} {a}", w) for a, w in self.examples], self.name)
        formatter = parser.formatter_class
        if not (
            isinstance(formatter, type)
            and issubclass(formatter, argparse.RawDescriptionHelpFormatter)
        ):
            parser.formatter_class = argparse.RawDescriptionHelpFormatter


class Flag(argparse.Action):
    """A boolean option with a ``--no-`` form for each of its names, as venvstacks spells them.

    venvstacks' command line (typer) accepts ``--publish`` and ``--no-publish``, ``--show``
    and ``--no-show``... for every flag; the last one given wins. With ``default=None`` the
    option has three states (``--include-dependencies``): unset, on or off.
    """

    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        default: bool | None = False,
        help: str | None = None,
    ) -> None:
        names = [*option_strings, *("--no-" + name[2:] for name in option_strings)]
        super().__init__(names, dest, nargs=0, default=default, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        """Set the option: true for its names, false for their ``--no-`` forms."""
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))

    def format_usage(self) -> str:
        """``--show | --no-show`` in the usage line."""
        return " | ".join(self.option_strings)


def add_flag(
    parser: argparse.ArgumentParser,
    *names: str,
    help: str,
    dest: str | None = None,
    default: bool | None = False,
) -> None:
    """A :class:`Flag` (``--name`` and ``--no-name``); ``dest`` defaults to the first name's."""
    if dest is None:
        parser.add_argument(*names, action=Flag, default=default, help=help)
    else:
        parser.add_argument(*names, action=Flag, default=default, help=help, dest=dest)


def add_verbosity(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``-v``/``-q``; ``suppress`` keeps an earlier level's value (options after the verb)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if suppress else 0,
        help="more output; -v also shows tracebacks and the commands run",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="only warnings, errors and what was asked for (trees, JSON): no progress, "
        "no per-layer lines",
    )


#: The ``--color`` choices, as uv and pip spell them.
COLOR_CHOICES = ("auto", "always", "never")


def add_display_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``--no-progress`` and ``--color``; ``suppress`` as for :func:`add_verbosity`."""
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=argparse.SUPPRESS if suppress else True,
        help="no live progress bars: a line when each long step starts and ends instead",
    )
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default=argparse.SUPPRESS if suppress else "auto",
        metavar="WHEN",
        help="colour the messages: auto (on a terminal, unless NO_COLOR is set), always or "
        "never (default: auto)",
    )


def add_selection(parser: argparse.ArgumentParser) -> None:
    """``--include`` and ``--allow-missing``."""
    add_repeatable(
        parser,
        "--include",
        "PATTERN",
        "only these layers (fnmatch on build names such as 'app-*'; repeatable), "
        "with the layers they need and the layers built on them",
    )
    add_flag(
        parser, "--allow-missing", help="warn instead of failing when a pattern matches no layer"
    )


def add_stack_options(parser: argparse.ArgumentParser, *, output: str | None = None) -> None:
    """The layer selection and ``--build-dir``, and ``--output-dir`` when ``output`` is given.

    ``output`` names the folder's default, for the help text.
    """
    add_selection(parser)
    add_build_dir(parser)
    if output is not None:
        add_output_dir(parser, output)


def add_show_options(parser: argparse.ArgumentParser) -> None:
    """``--show``, ``--show-only``, ``--json`` (venvstacks' meanings) and ``--json-results``."""
    add_flag(parser, "--show", help="print the selected layers and their operations first")
    add_flag(parser, "--show-only", help="print the selected layers and their operations, and stop")
    add_json(
        parser,
        help="print the selection as venvstacks' status JSON; without --show, stop there "
        "(as --show-only)",
        negatable=True,
    )
    parser.add_argument(
        "--json-results",
        action="store_true",
        help="print what the command did as JSON on stdout (instead of one line per layer)",
    )


def add_json(
    parser: argparse.ArgumentParser,
    help: str = "print a JSON summary on stdout",
    *,
    negatable: bool = False,
) -> None:
    """``--json`` (``negatable``: and ``--no-json``, as venvstacks' commands take it)."""
    if negatable:
        add_flag(parser, "--json", help=help)
    else:
        parser.add_argument("--json", action="store_true", help=help)


def add_build_dir(parser: argparse.ArgumentParser) -> None:
    """``--build-dir``."""
    parser.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="folder for layer environments, relative to the spec's folder (default: the "
        "build-dir setting, '_build')",
    )


def add_output_dir(parser: argparse.ArgumentParser, default: str) -> None:
    """``--output-dir``."""
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help=f"destination folder, relative to the spec's folder (default: {default})",
    )


_INDEX_HELP = (
    "query the package indexes (the default); --no-index: only --local-wheels and find-links"
)
_LOCAL_WHEELS_HELP = (
    "a folder of wheels to lock against, relative to the spec's folder (repeatable)"
)
_RESET_LOCK_HELP = "discard the existing lock of matching layers before locking them (repeatable)"


def add_repeatable(
    parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, *, type: type = str
) -> None:
    """An option that may be given several times; its values make a list (empty by default)."""
    parser.add_argument(flag, action="append", default=[], type=type, metavar=metavar, help=help)


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """``--index``/``--no-index`` and ``--local-wheels``."""
    add_flag(parser, "--index", default=True, help=_INDEX_HELP)
    add_repeatable(parser, "--local-wheels", "DIR", _LOCAL_WHEELS_HELP, type=Path)


def add_reset_lock(parser: argparse.ArgumentParser) -> None:
    """``--reset-lock``."""
    add_repeatable(parser, "--reset-lock", "PATTERN", _RESET_LOCK_HELP)


def add_publish_options(parser: argparse.ArgumentParser) -> None:
    """The publish options: format, tags, push (``--to``, ``--mount-from``), deltas, insecure.

    The options a publish shares with ``build --publish``.
    """
    parser.add_argument(
        "--format",
        dest="format_name",
        metavar="NAME",
        help="archive format: tar.zst, tar.xz, zip or a plugin's (default: archive-format setting)",
    )
    parser.add_argument(
        "--compression",
        metavar="LEVEL",
        help="fast, default, max (releases: about xz -9's size, far faster to unpack) or the "
        "format's level number (default: the compression setting)",
    )
    add_flag(
        parser,
        "--tag-outputs",
        help="add the platform and build number to archive and metadata names",
    )
    parser.add_argument(
        "--to",
        dest="push_to",
        type=registry_reference,
        metavar="oci://REGISTRY/REPO:TAG",
        help="then push the published layers to this OCI registry tag (with --tag-outputs, "
        "into the tag's multi-platform index); needs envstacks[oci]",
    )
    parser.add_argument(
        "--delta-from",
        action="append",
        default=[],
        metavar="SOURCE",
        help="also write, for each layer packed, a delta from every earlier version of it that "
        "SOURCE lists (a publish folder or manifest, relative to the spec's folder, a URL or "
        "an oci:// reference; repeatable)",
    )
    add_mount_from(parser)
    add_insecure(parser)


def add_mount_from(parser: argparse.ArgumentParser) -> None:
    """``--mount-from``."""
    add_repeatable(
        parser,
        "--mount-from",
        "REPO",
        "with --to: mount blobs that this repository of the same registry holds instead of "
        "uploading them (repeatable; the repositories the folder was pushed to are tried too)",
    )


def add_insecure(parser: argparse.ArgumentParser) -> None:
    """``--insecure``."""
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain HTTP for a registry that is not on this machine "
        "(one on localhost may always use it)",
    )


def registry_reference(text: str) -> str:
    """An ``oci://`` reference, checked when the command line is read (before any build)."""
    from envstacks.floor.errors import ReferenceSyntaxError  # noqa: PLC0415
    from envstacks.stages.oci.reference import parse_reference  # noqa: PLC0415 - only when given

    try:
        parse_reference(text)
    except ReferenceSyntaxError as exc:
        # A usage error is one line: the fix goes after the problem.
        raise argparse.ArgumentTypeError(
            f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        ) from exc
    return text


def add_also(parser: argparse.ArgumentParser, what: str, *aliases: str) -> None:
    """``--<what>-dependencies`` and ``--<what>-derived`` (and their ``--no-`` forms).

    ``aliases`` are other words for ``what`` (local-export takes venvstacks'
    ``--publish-dependencies`` and envstacks' ``--export-dependencies``).
    """
    verb = aliases[0] if aliases else what
    for relation, whom in (
        ("dependencies", "the layers the included layers need"),
        ("derived", "the layers built on the included layers"),
    ):
        add_flag(
            parser,
            f"--{what}-{relation}",
            *(f"--{alias}-{relation}" for alias in aliases),
            dest=f"{what}_{relation}",
            help=f"also {verb} {whom}",
        )
