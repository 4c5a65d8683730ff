"""The PDM command group ``pdm venvstacks <verb>``: the CLI's verbs, run on PDM's project.

Entry point: ``envstacks = "envstacks.integrations.pdm_plugin:register"`` in the ``pdm`` group.
PDM calls :func:`register` for every ``pdm`` invocation (and every ``Core()`` anyone creates),
so it only registers the command class. The verbs, their arguments and their output are the
standalone CLI's (:mod:`envstacks.cli`); this module adds how the stack is read
(``project.pyproject.open_for_read()``), how the project's wheel is built (PDM's builder) and
how errors are shown (PDM style: a message, no traceback unless ``-v``; exit status 1).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pluggy
from pdm.cli.commands.base import BaseCommand
from pdm.cli.options import project_option, verbose_option
from rich.markup import escape

from envstacks.errors import BuildError, EnvStacksError

if TYPE_CHECKING:
    from pdm.core import Core
    from pdm.project import Project

    from envstacks.cli import Verb
    from envstacks.pipeline import WheelBuilder
    from envstacks.spec.model import StackSpec

#: The command's name: ``pdm venvstacks ...``.
COMMAND = "venvstacks"


def register(core: Core) -> None:
    """Add ``pdm venvstacks`` to PDM (nothing else: PDM calls this on every start-up)."""
    core.register_command(VenvstacksCommand, COMMAND)


class VenvstacksCommand(BaseCommand):
    """Lock, build, publish and deploy layered environments (tool.venvstacks)."""

    arguments = (verbose_option,)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """One subcommand per envstacks verb, defined once in :mod:`envstacks.cli`."""
        from envstacks.cli import VERBS  # noqa: PLC0415 - loaded when PDM builds its parser

        subparsers = parser.add_subparsers(title="commands", metavar="")
        for verb in VERBS:
            verb_command(verb).register_to(subparsers, verb.name)
        self.parser = parser

    def handle(self, project: Project, options: argparse.Namespace) -> None:
        """``pdm venvstacks`` alone prints the list of verbs."""
        self.parser.print_help()


class VerbCommand(BaseCommand):
    """Base of the per-verb commands: runs the shared handler with PDM's project."""

    verb: ClassVar[Verb]
    arguments = (verbose_option, project_option)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The verb's own arguments, exactly as the standalone CLI defines them."""
        self.verb.add_arguments(parser)

    def handle(self, project: Project, options: argparse.Namespace) -> None:
        """Run the verb; show envstacks errors as PDM shows usage errors and exit with status 1."""
        from envstacks.cli import Invocation, make_reporter  # noqa: PLC0415 - only when run
        from envstacks.hooks import get_plugin_manager  # noqa: PLC0415

        verbosity = int(options.verbose or 0)
        reporter = make_reporter(verbosity)
        invocation = Invocation(
            load_spec=lambda: load_spec(project),
            reporter=reporter,
            out=sys.stdout,
            pm_factory=get_plugin_manager,
            project_wheel_builder=pdm_wheel_builder(project),
        )
        try:
            status = self.verb.run(invocation, options)
        except (EnvStacksError, pluggy.PluginValidationError) as error:
            show_error(project, error, verbose=verbosity > 0)
            sys.exit(1)
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
    """The stack of a PDM project, read from the pyproject PDM has loaded (creating no tables)."""
    from envstacks.integrations.common import load_project_spec  # noqa: PLC0415

    return load_project_spec(project.pyproject.open_for_read(), project.root / "pyproject.toml")


def pdm_wheel_builder(project: Project) -> WheelBuilder:
    """A wheel builder that uses PDM's own (isolated, PEP 517) builder for the project."""

    def _build(project_root: Path, out_dir: Path) -> Path:
        from pdm.builders import WheelBuilder  # noqa: PLC0415
        from pdm.exceptions import BuildError as PdmBuildError  # noqa: PLC0415

        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        try:
            return Path(WheelBuilder(project_root, project.environment).build(str(out_dir)))
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
    ui.echo(f"[error]error[/]: {escape(message)}", err=True)
    hint = error.hint if isinstance(error, EnvStacksError) else None
    if hint:
        ui.echo(f"[info]hint[/]: {escape(hint)}", err=True)
