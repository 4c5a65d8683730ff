"""The ``venvstacks`` Hatch environment type: ``hatch run <env>:<cmd>`` in a layered app env.

Configuration: ``[tool.hatch.envs.<env>] type = "venvstacks"`` and ``layer = "<application>"``
(the application's name as written in ``[[tool.venvstacks.applications]]``). Creating the
environment locks what needs locking and builds the stack up to that application layer,
then installs the project in development mode (editable, without its dependencies: those
come from the layers). Commands run with the application layer's ``bin`` first on ``PATH``,
so ``python`` is the layered interpreter that sees the framework and runtime layers below.

The layers live in Hatch's data directory, one build folder per project and environment
(``<data_directory>/<project>/<root id>/<env>``): Hatch's ``data_directory`` is shared by
every project. The locks are the project's own (``requirements-dir``), as for every other
front-end. When a lock changes, Hatch sees a new :meth:`dependency_hash` and resyncs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from hatch.env.plugin.interface import EnvironmentInterface
from hatch.utils.structures import EnvVars

from envstacks.floor.errors import EnvStacksError, SpecError
from envstacks.frontends.integrations.hatch_plugins.reporting import (
    HatchReporter,
    abort_interrupted,
    abort_with,
)
from envstacks.frontends.integrations.hatch_plugins.wheel_builder import project_wheel_builder
from envstacks.frontends.project_table import load_project_spec
from envstacks.orchestrator import development
from envstacks.orchestrator.session import Session, with_dirs
from envstacks.published.layer_config import PYTHON
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import ApplicationSpec, StackSpec

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Variables that would point the layered interpreter at another installation.
_PYTHON_NOISE = ("PYTHONHOME", "__PYVENV_LAUNCHER__")


def _reported(
    method: Callable[Concatenate[VenvstacksEnvironment, _P], _R],
) -> Callable[Concatenate[VenvstacksEnvironment, _P], _R]:
    """Show envstacks errors raised by a Hatch-facing method as Hatch errors (no traceback).

    Ctrl-C ends the command with ``interrupted`` and exit status 130, as in every front-end.
    """

    @functools.wraps(method)
    def wrapper(self: VenvstacksEnvironment, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except EnvStacksError as error:
            abort_with(self.app, error)
        except KeyboardInterrupt:
            abort_interrupted(self.app)

    return wrapper


class VenvstacksEnvironment(EnvironmentInterface):
    """A Hatch environment that is one application layer of the project's stack."""

    PLUGIN_NAME = "venvstacks"

    @staticmethod
    def get_option_types() -> dict[str, Any]:
        """Options usable in matrix overrides."""
        return {"layer": str, "variant": str}

    # -- where things are -------------------------------------------------------------------

    @cached_property
    def storage_path(self) -> Path:
        """This project's and environment's folder in Hatch's (shared) data directory."""
        return Path(self.data_directory) / self.metadata.name / self.root.id / self.name

    @cached_property
    def stack(self) -> StackSpec:
        """The project's stack, building into :attr:`storage_path`."""
        spec = load_project_spec(self.metadata.config, Path(self.root) / "pyproject.toml")
        return with_dirs(spec, build_dir=self.storage_path)

    @cached_property
    def application(self) -> ApplicationSpec:
        """The application layer named by the ``layer`` option."""
        field = f"tool.hatch.envs.{self.name}.layer"
        name = self.config.get("layer")
        names = [app.name for app in self.stack.applications]
        example = f'layer = "{names[0] if names else "my-app"}"'
        if name is None:
            raise SpecError(
                f"Field `{field}` is missing: a venvstacks environment runs in one application "
                "layer, named by its `layer` option",
                hint=f"add {example} to [tool.hatch.envs.{self.name}]",
            )
        if not isinstance(name, str) or not name:
            raise SpecError(
                f"Field `{field}` must be the name of an application layer (got {name!r})",
                hint=f"write it like {example}",
            )
        for app in self.stack.applications:
            if name in (app.name, app.build_name):
                return app
        raise SpecError(
            f"Field `{field}`: no application layer is called {name!r} "
            f"(defined: {', '.join(repr(n) for n in names) or 'none'})",
            hint="use the `name` of one of the [[tool.venvstacks.applications]] tables",
        )

    @cached_property
    def variants(self) -> dict[str, str]:
        """The variants the ``variant`` option develops against (fallback -> variant layer)."""
        field = f"tool.hatch.envs.{self.name}.variant"
        variant = self.config.get("variant")
        if variant is not None and (not isinstance(variant, str) or not variant):
            raise SpecError(
                f"Field `{field}` must be the name of a variant (got {variant!r})",
                hint='write it like variant = "cpu"',
            )
        return development.chosen_variants(self.stack, self.application, variant, field=field)

    @cached_property
    def env_path(self) -> Path:
        """The application layer's environment: what ``hatch run`` runs in."""
        return stack_paths.env_path(self.stack, self.application)

    @property
    def python(self) -> Path:
        """The application layer's interpreter."""
        return self.env_path / PYTHON

    @cached_property
    def reporter(self) -> HatchReporter:
        """Core messages and progress, written through Hatch's ``app``."""
        return HatchReporter(self.app)

    # -- lifecycle --------------------------------------------------------------------------

    @_reported
    def find(self) -> str:
        """Where the application layer's environment is (``hatch env find``)."""
        return str(self.env_path)

    @_reported
    def exists(self) -> bool:
        """Whether the application layer has been built here."""
        return self.python.is_file()

    @_reported
    def create(self) -> None:
        """Lock if needed and build the stack up to the application layer."""
        self._build_layers()

    @_reported
    def remove(self) -> None:
        """Delete every layer this environment built (the project's locks stay)."""
        development.remove(self.session)

    @_reported
    def install_project(self) -> None:
        """Install the project (not editable) into the application layer, without dependencies."""
        self._install_project(editable=False)

    @_reported
    def install_project_dev_mode(self) -> None:
        """Install the project in development mode: source edits show without rebuilding."""
        self._install_project(editable=True)

    @_reported
    def dependency_hash(self) -> str:
        """A hash of what the layers are made from.

        Their locks and requirements, the project's dependencies (locked into a layer that
        ships the project) and the environment's extra tools.
        """
        return development.fingerprint(
            self.session,
            self.application,
            extra=[repr(self.metadata.core.dependencies), repr(self.environment_dependencies)],
            variants=self.variants,
        )

    @_reported
    def dependencies_in_sync(self) -> bool:
        """Whether every lock is current and every layer was built from it."""
        return development.in_sync(self.session, self.application, self.variants)

    @_reported
    def sync_dependencies(self) -> None:
        """Relock what is stale, rebuild what changed, reinstall the project and extra tools."""
        self._build_layers()
        if not self.skip_install:
            self._install_project(editable=self.dev_mode)

    # -- running commands -------------------------------------------------------------------

    @contextmanager
    def command_context(self) -> Generator[None, None, None]:
        """Run commands with the application layer activated (``bin`` first on ``PATH``)."""
        with self.get_env_vars(), EnvVars(self._activation(), exclude=_PYTHON_NOISE):
            yield

    def run_shell_command(self, command: str, **kwargs: Any) -> Any:
        """Run a shell command in the application layer."""
        kwargs.setdefault("shell", True)
        with self.command_context():
            return self.platform.run_command(command, **kwargs)

    def enter_shell(self, name: str, path: str, args: Iterable[str]) -> None:
        """``hatch shell``: a shell with the application layer activated."""
        with self.command_context():
            self.platform.exit_with_command([path, *args])

    def _activation(self) -> dict[str, str]:
        return {
            "VIRTUAL_ENV": str(self.env_path),
            "PATH": os.pathsep.join([str(self.python.parent), os.environ.get("PATH", os.defpath)]),
        }

    # -- helpers ----------------------------------------------------------------------------

    @cached_property
    def session(self) -> Session:
        """The orchestrator's session for this environment's stack (spec warnings shown once)."""
        return Session(
            self.stack,
            reporter=self.reporter,
            project_wheel_builder=project_wheel_builder(self.metadata.config, self.reporter),
        )

    def _build_layers(self) -> None:
        development.prepare(
            self.session,
            self.application,
            tools=list(self.environment_dependencies),
            variants=self.variants,
        )

    def _install_project(self, *, editable: bool) -> None:
        development.install_project(
            self.session,
            self.application,
            Path(self.root),
            name=self.metadata.name,
            editable=editable,
        )
