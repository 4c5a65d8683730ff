"""The PDM command group ``pdm venvstacks <verb>``: the CLI's verbs, run on PDM's project.

Entry point: ``envstacks = "envstacks.frontends.integrations.pdm_commands:register"`` in the
``pdm`` group.
PDM calls :func:`register` for every ``pdm`` invocation (and every ``Core()`` anyone creates),
so it only registers the command class. The verbs, their arguments, their help and their
output are the standalone CLI's (:mod:`envstacks.frontends.cli`); this module adds how the stack is
read (from the project's folder), how the project's wheel is built (PDM's builder, on the runtime
layer's interpreter) and how errors are shown (PDM style: a message, no traceback unless ``-v``;
exit status 1; ``interrupted`` and 130 on Ctrl-C).

PDM's ``-v``/``-q`` count wherever PDM accepts them: ``pdm -v venvstacks show``, ``pdm
venvstacks -v show`` and ``pdm venvstacks show -v`` are the same. (argparse copies a
subcommand's option defaults over what the levels before it parsed, so the nested levels
declare ``-v``/``-q`` without a default.)
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pluggy
from pdm.cli.commands.base import BaseCommand
from pdm.cli.options import ArgumentGroup, project_option
from pdm.cli.utils import ArgumentParser as PdmArgumentParser
from rich.markup import escape

from envstacks.floor.errors import BuildError, EnvStacksError
from envstacks.frontends.cli import (
    DOCS_URL,
    INTERRUPTED_MESSAGE,
    INTERRUPTED_STATUS,
    SuggestingParser,
    add_display_options,
)

if TYPE_CHECKING:
    from pdm.core import Core
    from pdm.project import Project

    from envstacks.frontends.cli import Verb
    from envstacks.orchestrator.project_wheel import WheelBuilder
    from envstacks.stages.stackspec.model import StackSpec

#: The command's name: ``pdm venvstacks ...``.
COMMAND = "venvstacks"
#: How a user calls the command group, for the examples in ``--help``.
PROG = f"pdm {COMMAND}"

#: PDM's ``-v``/``-q`` again, for the levels below ``pdm``: no default, so that a level
#: without them keeps what an earlier level set.
nested_verbose_option = ArgumentGroup("Verbosity options", is_mutually_exclusive=True)
nested_verbose_option.add_argument(
    "-v",
    "--verbose",
    action="count",
    default=argparse.SUPPRESS,
    help="Use `-v` for detailed output (the commands run, tracebacks)",
)
nested_verbose_option.add_argument(
    "-q",
    "--quiet",
    action="store_const",
    const=-1,
    dest="verbose",
    default=argparse.SUPPRESS,
    help="Suppress output: only warnings, errors and what was asked for",
)


class SuggestingPdmParser(PdmArgumentParser, SuggestingParser):
    """PDM's parser (its help layout) whose usage errors suggest the closest verb or option."""


def register(core: Core) -> None:
    """Add ``pdm venvstacks`` to PDM (nothing else: PDM calls this on every start-up)."""
    core.register_command(VenvstacksCommand, COMMAND)


class VenvstacksCommand(BaseCommand):
    """Lock, build, publish and deploy layered environments (tool.venvstacks)."""

    arguments = (nested_verbose_option,)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """One subcommand per envstacks verb, defined once in :mod:`envstacks.frontends.cli`."""
        from envstacks.frontends.cli import VERBS  # noqa: PLC0415 - loaded when PDM builds its parser

        if type(parser) is PdmArgumentParser:
            # PDM made this parser; a mistyped verb should get a suggestion here too.
            parser.__class__ = SuggestingPdmParser
        parser.epilog = (
            f"Run `{PROG} COMMAND --help` for a command's options and examples.\ndocs: {DOCS_URL}"
        )
        subparsers = parser.add_subparsers(
            title="commands",
            metavar="COMMAND",
            dest="venvstacks_verb",
            parser_class=SuggestingPdmParser,
        )
        for verb in VERBS:
            verb_command(verb).register_to(subparsers, verb.name)
            verb.describe(subparsers.choices[verb.name], PROG)
        self.parser = parser

    def handle(self, project: Project, options: argparse.Namespace) -> None:
        """``pdm venvstacks`` alone is a usage error, as ``envstacks`` alone: help, status 2."""
        self.parser.print_help(sys.stderr)
        sys.exit(2)


class VerbCommand(BaseCommand):
    """Base of the per-verb commands: runs the shared handler with PDM's project."""

    verb: ClassVar[Verb]
    arguments = (nested_verbose_option, project_option)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The verb's own arguments, exactly as the standalone CLI defines them."""
        self.verb.add_arguments(parser)
        add_display_options(parser)

    def handle(self, project: Project, options: argparse.Namespace) -> None:
        """Run the verb; show envstacks errors as PDM shows usage errors and exit with status 1."""
        from envstacks.floor.report import NORMAL, QUIET, VERBOSE  # noqa: PLC0415
        from envstacks.frontends.cli import Invocation, make_reporter  # noqa: PLC0415 - only when run
        from envstacks.orchestrator.plugins import get_plugin_manager  # noqa: PLC0415

        level = int(getattr(options, "verbose", 0) or 0)
        verbosity = QUIET if level < 0 else (VERBOSE if level > 0 else NORMAL)
        reporter = make_reporter(verbosity, progress=options.progress, color=options.color)
        invocation = Invocation(
            load_spec=lambda: load_spec(project),
            reporter=reporter,
            out=sys.stdout,
            pm_factory=get_plugin_manager,
            project_wheel_builder=pdm_wheel_builder(project),
            quiet=level < 0,
            verbose=level > 0,
            prog=PROG,
        )
        try:
            status = self.verb.run(invocation, options)
        except (EnvStacksError, pluggy.PluginValidationError) as error:
            show_error(project, error, verbose=level > 0)
            sys.exit(1)
        except KeyboardInterrupt:
            # As the standalone CLI: no traceback, temporaries already cleaned up on the way.
            project.core.ui.echo(INTERRUPTED_MESSAGE, err=True)
            sys.exit(INTERRUPTED_STATUS)
        if status:
            sys.exit(status)


def verb_command(verb: Verb) -> type[VerbCommand]:
    """The PDM command class for one verb."""
    return type(
        f"{verb.name.title().replace('-', '')}Command",
        (VerbCommand,),
        {"verb": verb, "description": verb.help, "__doc__": verb.help},
    )


def load_spec(project: Project) -> StackSpec:
    """The stack of a PDM project: its folder, read as the standalone CLI reads a folder.

    The ``pyproject.toml`` is read from disk rather than through PDM's project object, whose
    reading API differs across the PDM versions supported (``open_for_read`` appeared in 2.26)
    and whose ``settings`` would create a ``[tool.pdm]`` table.
    """
    from envstacks.stages import stackspec as spec_loader  # noqa: PLC0415

    return spec_loader.load(Path(project.root))


def pdm_wheel_builder(project: Project) -> WheelBuilder:
    """A wheel builder that uses PDM's own (isolated, PEP 517) builder for the project.

    The build runs on the runtime layer's interpreter (a PDM environment made from it), so
    compiled extensions match the layer, whatever Python the project uses under PDM. That
    environment becomes the project's for the command: PDM's builder installs the build
    requirements through the project's resolver, which asks for ``project.environment``, and
    PDM would otherwise pick the project's interpreter for it (and, with ``python.use_venv``,
    create a ``.venv`` with the newest Python it finds) only to read ``pdm.lock``.
    """

    def _build(project_root: Path, out_dir: Path, *, python: Path) -> Path:
        from pdm.builders import WheelBuilder  # noqa: PLC0415
        from pdm.environments import PythonEnvironment  # noqa: PLC0415
        from pdm.exceptions import BuildError as PdmBuildError  # noqa: PLC0415

        environment = PythonEnvironment(project, python=str(python))
        project.environment = environment
        try:
            return Path(WheelBuilder(project_root, environment).build(str(out_dir)))
        except PdmBuildError as exc:
            raise BuildError(
                f"PDM could not build the wheel of the project at {project_root}: {exc}",
                hint="run `pdm build --no-sdist` to see the full build output",
            ) from exc

    return _build


def show_error(project: Project, error: BaseException, *, verbose: bool) -> None:
    """Print an error as PDM prints its own: a message (and hint); the traceback only with -v."""
    ui = project.core.ui
    if verbose:
        ui.echo(escape("".join(traceback.format_exception(error)).rstrip()), err=True)
    message = error.message if isinstance(error, EnvStacksError) else str(error)
    ui.echo(f"[error]error[/]: {escape(in_pdm_terms(message))}", err=True)
    hint = error.hint if isinstance(error, EnvStacksError) else None
    if hint:
        ui.echo(f"[info]hint[/]: {escape(in_pdm_terms(hint))}", err=True)


def in_pdm_terms(text: str) -> str:
    """``text`` with the commands it quotes (```envstacks lock ...```) as PDM users type them.

    The stages word their hints for the standalone CLI; every verb exists here under the same
    name and options, so only the program changes.
    """
    return text.replace("`envstacks ", f"`{PROG} ")
