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

if TYPE_CHECKING:
    import pluggy

    from envstacks.pipeline import WheelBuilder
    from envstacks.report import Reporter
    from envstacks.spec.model import StackSpec


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


#: A verb's handler: runs it and returns the exit status.
Handler = Callable[[Invocation, argparse.Namespace], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """One subcommand: its help, its arguments and its handler."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler
    #: Whether the verb works on a stack spec (deploy works on published archives instead).
    uses_spec: bool = True

    @classmethod
    def from_module(cls, module: ModuleType) -> Verb:
        """The verb a verb module defines: ``NAME``, ``HELP``, ``add_arguments`` and ``run``."""
        return cls(
            name=module.NAME,
            help=module.HELP,
            add_arguments=module.add_arguments,
            run=module.run,
            uses_spec=getattr(module, "USES_SPEC", True),
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
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="warn instead of failing when a pattern matches no layer",
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
    """``--show``, ``--show-only`` and ``--json``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", action="store_true", help="print the planned operations first")
    group.add_argument(
        "--show-only", action="store_true", help="print the planned operations and stop"
    )
    add_json(parser)


def add_json(parser: argparse.ArgumentParser, help: str = "print a JSON summary on stdout") -> None:
    """``--json``."""
    parser.add_argument("--json", action="store_true", help=help)


def add_build_dir(parser: argparse.ArgumentParser) -> None:
    """``--build-dir``."""
    parser.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="folder for layer environments (default: the build-dir setting, '_build')",
    )


def add_output_dir(parser: argparse.ArgumentParser, default: str) -> None:
    """``--output-dir``."""
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help=f"destination folder (default: {default})"
    )


_NO_INDEX_HELP = "do not query package indexes (use --local-wheels and find-links only)"
_LOCAL_WHEELS_HELP = "a folder of wheels to lock against (repeatable)"
_RESET_LOCK_HELP = "discard the existing lock of matching layers before locking them (repeatable)"


def add_repeatable(
    parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, *, type: type = str
) -> None:
    """An option that may be given several times; its values make a list (empty by default)."""
    parser.add_argument(flag, action="append", default=[], type=type, metavar=metavar, help=help)


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """``--no-index`` and ``--local-wheels``."""
    parser.add_argument("--no-index", dest="index", action="store_false", help=_NO_INDEX_HELP)
    add_repeatable(parser, "--local-wheels", "DIR", _LOCAL_WHEELS_HELP, type=Path)


def add_reset_lock(parser: argparse.ArgumentParser) -> None:
    """``--reset-lock``."""
    add_repeatable(parser, "--reset-lock", "PATTERN", _RESET_LOCK_HELP)


def add_publish_options(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--tag-outputs``, ``--to`` and ``--insecure``."""
    parser.add_argument(
        "--format",
        dest="format_name",
        metavar="NAME",
        help="archive format: tar.zst, tar.xz, zip or a plugin's (default: archive-format setting)",
    )
    parser.add_argument(
        "--tag-outputs",
        action="store_true",
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
    add_insecure(parser)


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
    from envstacks.oci.reference import parse_reference  # noqa: PLC0415 - only when given

    try:
        parse_reference(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def add_also(parser: argparse.ArgumentParser, what: str, *, dest: str | None = None) -> None:
    """``--<what>-dependencies`` and ``--<what>-derived`` (``dest`` names the option group)."""
    name = dest or what
    parser.add_argument(
        f"--{what}-dependencies",
        dest=f"{name}_dependencies",
        action="store_true",
        help=f"also {what} the layers the included layers need",
    )
    parser.add_argument(
        f"--{what}-derived",
        dest=f"{name}_derived",
        action="store_true",
        help=f"also {what} the layers built on the included layers",
    )
