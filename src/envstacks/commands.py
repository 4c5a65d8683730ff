"""The verbs (show, lock, build...): one argument definition and handler each, for CLI and PDM.

The standalone CLI and the PDM command group both build their parsers from :data:`VERBS`, so
the two front-ends take the same options and print the same output.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from envstacks.report import Reporter

if TYPE_CHECKING:
    import pluggy

    from envstacks.pipeline import WheelBuilder
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


Handler = Callable[[Invocation, argparse.Namespace], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """One subcommand: its help, its arguments and its handler."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    #: Whether the verb works on a stack spec (deploy works on published archives instead).
    uses_spec: bool = True


# -- shared arguments ------------------------------------------------------------------------


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only these layers (fnmatch on build names such as 'app-*'; repeatable), "
        "with the layers they need and the layers built on them",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="warn instead of failing when a pattern matches no layer",
    )


def _show_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", action="store_true", help="print the planned operations first")
    group.add_argument(
        "--show-only", action="store_true", help="print the planned operations and stop"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _build_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="folder for layer environments (default: the build-dir setting, '_build')",
    )


def _output_dir(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help=f"destination folder (default: {default})"
    )


def _index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-index",
        dest="index",
        action="store_false",
        help="do not query package indexes (use --local-wheels and find-links only)",
    )
    parser.add_argument(
        "--local-wheels",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="a folder of wheels to lock against (repeatable)",
    )


def _reset_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reset-lock",
        action="append",
        default=[],
        metavar="PATTERN",
        help="discard the existing lock of matching layers before locking them (repeatable)",
    )


def _publish_options(parser: argparse.ArgumentParser) -> None:
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


def _add_show(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    parser.add_argument("--json", action="store_true", help="print venvstacks' status JSON")


def _add_lock(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    parser.add_argument(
        "--if-needed", action="store_true", help="only lock layers whose lock is missing or stale"
    )
    _reset_lock(parser)
    parser.add_argument(
        "--lock-dependencies",
        action="store_true",
        help="fully relock the dependencies of included layers too",
    )
    _index_options(parser)
    _show_options(parser)


def _add_build(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the output-dir setting")
    parser.add_argument(
        "--lock-if-needed",
        "--lock",
        dest="lock_if_needed",
        action="store_true",
        help="lock layers whose lock is missing or stale before building",
    )
    _reset_lock(parser)
    parser.add_argument(
        "--clean", action="store_true", help="delete and recreate the selected environments"
    )
    parser.add_argument("--publish", action="store_true", help="publish archives after building")
    _publish_options(parser)
    for what in ("build", "publish"):
        parser.add_argument(
            f"--{what}-dependencies",
            action="store_true",
            help=f"also {what} the layers the included layers need",
        )
        parser.add_argument(
            f"--{what}-derived",
            action="store_true",
            help=f"also {what} the layers built on the included layers",
        )
    parser.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="layers built at once (default: 2)"
    )
    _index_options(parser)
    _show_options(parser)


def _add_publish(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the output-dir setting")
    _publish_options(parser)
    parser.add_argument(
        "--force", action="store_true", help="rebuild archives even if nothing changed"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be published and stop"
    )
    parser.add_argument(
        "--publish-dependencies",
        action="store_true",
        help="also publish the layers the included layers need",
    )
    parser.add_argument(
        "--publish-derived",
        action="store_true",
        help="also publish the layers built on the included layers",
    )
    _show_options(parser)


def _add_export(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the export-dir setting, '_export'")
    parser.add_argument("--force", action="store_true", help="export even if nothing changed")
    parser.add_argument(
        "--export-dependencies",
        dest="publish_dependencies",
        action="store_true",
        help="also export the layers the included layers need",
    )
    parser.add_argument(
        "--export-derived",
        dest="publish_derived",
        action="store_true",
        help="also export the layers built on the included layers",
    )
    _show_options(parser)


def _add_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a publish output folder, a manifest file, or an http(s):// or file:// base URL",
    )
    parser.add_argument(
        "--target", type=Path, required=True, metavar="DIR", help="the deployment folder"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="deploy only matching layers and the layers they need (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _handler(name: str) -> Handler:
    """A handler that imports :mod:`envstacks.handlers` only when the verb runs."""

    def run(inv: Invocation, opts: argparse.Namespace) -> int:
        module = importlib.import_module("envstacks.handlers")
        result: int = getattr(module, name)(inv, opts)
        return result

    run.__name__ = name
    return run


VERBS: tuple[Verb, ...] = (
    Verb(
        name="show",
        help="show the layers of the stack and their lock status",
        add_arguments=_add_show,
        handler=_handler("run_show"),
    ),
    Verb(
        name="lock",
        help="lock the layers' requirements with uv",
        add_arguments=_add_lock,
        handler=_handler("run_lock"),
    ),
    Verb(
        name="build",
        help="build the layer environments",
        add_arguments=_add_build,
        handler=_handler("run_build"),
    ),
    Verb(
        name="publish",
        help="pack built layers into archives with metadata",
        add_arguments=_add_publish,
        handler=_handler("run_publish"),
    ),
    Verb(
        name="local-export",
        help="export built layers to a local folder, ready to run",
        add_arguments=_add_export,
        handler=_handler("run_export"),
    ),
    Verb(
        name="deploy",
        help="install published layers into a deployment folder",
        add_arguments=_add_deploy,
        handler=_handler("run_deploy"),
        uses_spec=False,
    ),
)


def verb(name: str) -> Verb:
    """The verb called ``name``."""
    for candidate in VERBS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def verb_names() -> Sequence[str]:
    """Names of all verbs, in help order."""
    return [v.name for v in VERBS]
