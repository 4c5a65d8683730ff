"""Development environments on the stack (Hatch's environment type): one application layer.

The environment is the application layer and the layers below it, built from the project's
own locks into a build folder of the host's (Hatch's data directory); the project and the
environment's tools are installed on top of the application layer for development. Every
operation here enters like the other verbs: the build folder is held while it is written.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from envstacks.floor.errors import SpecError
from envstacks.floor.folderlock import LOCK_FILE
from envstacks.floor.fs import remove_path
from envstacks.floor.work_folders import WorkFolder, guarded
from envstacks.orchestrator.pipeline import StackRequest, StackResult, layers_up_to_date, run
from envstacks.orchestrator.plan import Op, Selection
from envstacks.orchestrator.session import Session
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import ApplicationSpec, FrameworkSpec, LayerSpec, StackSpec

__all__ = [
    "chosen_variants",
    "environment_layers",
    "fingerprint",
    "in_sync",
    "install_project",
    "prepare",
    "remove",
]


def environment_layers(
    session: Session, app: ApplicationSpec, variants: Mapping[str, str] | None = None
) -> list[LayerSpec]:
    """The application layer, the layers below it and the variants it develops against."""
    chosen = [session.spec.layer(name) for name in (variants or {}).values()]
    return [*session.spec.dependencies(app), *chosen, app]


def chosen_variants(
    spec: StackSpec, app: ApplicationSpec, variant: str | None, *, field: str
) -> dict[str, str]:
    """``{fallback build name: chosen variant's build name}`` for ``variant`` (empty: none).

    Raises:
        SpecError: ``variant`` is given but ``app`` sits on no framework with variants, or one
            of them has no variant of that name (``field`` names the setting).
    """
    if variant is None:
        return {}
    fallbacks = [
        dep
        for dep in spec.dependencies(app)
        if isinstance(dep, FrameworkSpec) and dep.is_fallback and dep.variant_of
    ]
    if not fallbacks:
        raise SpecError(
            f"Field `{field}`: application {app.name!r} sits on no framework with variants",
            hint="remove the variant option, or declare variants on one of its frameworks",
        )
    chosen: dict[str, str] = {}
    for fallback in fallbacks:
        assert fallback.variant_of is not None
        options = spec.variants_of(fallback.variant_of)
        match = next((layer for layer in options if layer.variant == variant), None)
        if match is None:
            names = ", ".join(repr(layer.variant) for layer in options)
            raise SpecError(
                f"Field `{field}`: framework {fallback.variant_of!r} has no variant "
                f"{variant!r} (its variants: {names})",
                hint=f"write one of {names}",
            )
        chosen[fallback.build_name] = match.build_name
    return chosen


def prepare(
    session: Session,
    app: ApplicationSpec,
    *,
    tools: Sequence[str],
    variants: Mapping[str, str] | None = None,
) -> StackResult:
    """Lock what needs it, build the layers up to ``app`` if needed, then install ``tools``.

    Layers found up to date are kept as they are, with the project's development install and
    the tools already in them. With ``variants`` (:func:`chosen_variants`), those variants are
    built too and the application layer is chained to them instead of the fallbacks.
    """
    from envstacks.stages.building.develop_install import (  # noqa: PLC0415
        install_tools,
        link_to_variants,
    )

    chosen = dict(variants or {})
    result = run(
        session,
        StackRequest(
            plan=Selection(
                include=[app.build_name, *chosen.values()],
                lock=Op.IF_NEEDED,
                build=Op.IF_NEEDED,
            )
        ),
    )
    with _held(session):
        link_to_variants(session.spec, app, stack_paths.env_path(session.spec, app), chosen)
        install_tools(
            stack_paths.env_path(session.spec, app),
            tools,
            cwd=session.spec.root,
            reporter=session.reporter,
            what=f"install the environment's own dependencies into {app.build_name}",
        )
    return result


def install_project(
    session: Session, app: ApplicationSpec, project: Path, *, name: str, editable: bool
) -> None:
    """Install the project (distribution ``name`` at ``project``) into ``app``'s layer."""
    from envstacks.stages.building.develop_install import (  # noqa: PLC0415
        install_project as install,
    )

    with _held(session):
        install(
            stack_paths.env_path(session.spec, app),
            app,
            project,
            name=name,
            editable=editable,
            reporter=session.reporter,
        )


def in_sync(
    session: Session, app: ApplicationSpec, variants: Mapping[str, str] | None = None
) -> bool:
    """Whether every layer up to ``app`` (and ``variants``) has a current lock and build."""
    return layers_up_to_date(session, environment_layers(session, app, variants))


def fingerprint(
    session: Session,
    app: ApplicationSpec,
    *,
    extra: Sequence[str],
    variants: Mapping[str, str] | None = None,
) -> str:
    """A hash of what the environment is made from: its layers' requirements and locks.

    The layers are those of :func:`environment_layers` (the chosen ``variants`` included, so
    a change of a variant's lock changes the hash). ``extra`` adds what the host knows besides
    (the project's dependencies, the tools).
    """
    digest = hashlib.sha256()
    for layer in environment_layers(session, app, variants):
        digest.update(f"{layer.build_name}\0{layer.requirements!r}\0".encode())
        lock = stack_paths.pylock_path(session.spec, layer)
        digest.update(lock.read_bytes() if lock.is_file() else b"no lock")
    for item in extra:
        digest.update(f"{item}\0".encode())
    return digest.hexdigest()


def remove(session: Session) -> None:
    """Delete every layer the environment built (its build folder; the project's locks stay).

    The folder is held while its content goes (a build of it waits); the lock file and the
    emptied folder go last.
    """
    build_dir = session.spec.settings.build_dir
    if not build_dir.is_dir():
        return
    with _held(session):
        for entry in build_dir.iterdir():
            if entry.name != LOCK_FILE:
                remove_path(entry)
    (build_dir / LOCK_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # another run took the folder again meanwhile
        build_dir.rmdir()


def _held(session: Session) -> contextlib.AbstractContextManager[None]:
    """Hold the environment's build folder (what the verbs of this module write)."""
    build_dir = session.spec.settings.build_dir
    return guarded("develop", [WorkFolder(path=build_dir)], session.reporter)
