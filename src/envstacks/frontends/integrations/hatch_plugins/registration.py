"""The ``hatch`` entry point: registers the ``venvstacks`` build target and environment type.

Entry point: ``[project.entry-points.hatch] envstacks =
"envstacks.frontends.integrations.hatch_plugins.registration"``. Both hooks import their
class only when called:
Hatch's build environment has hatchling but not Hatch, and hatchling loads every ``hatch`` entry
point as soon as a build target is not one of its own, so a module-level ``import hatch`` here would
break ``hatch build``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hatchling.plugin import hookimpl

if TYPE_CHECKING:
    from envstacks.frontends.integrations.hatch_plugins.build_target import VenvstacksBuilder
    from envstacks.frontends.integrations.hatch_plugins.environment import VenvstacksEnvironment


@hookimpl
def hatch_register_builder() -> type[VenvstacksBuilder]:
    """The ``venvstacks`` build target (``hatch build -t venvstacks``)."""
    from envstacks.frontends.integrations.hatch_plugins.build_target import VenvstacksBuilder  # noqa: PLC0415

    return VenvstacksBuilder


@hookimpl
def hatch_register_environment() -> type[VenvstacksEnvironment]:
    """The ``venvstacks`` environment type (``[tool.hatch.envs.<env>] type = "venvstacks"``)."""
    from envstacks.frontends.integrations.hatch_plugins.environment import VenvstacksEnvironment  # noqa: PLC0415

    return VenvstacksEnvironment
