"""Copy an application's launch and support modules into its layer's ``site-packages``.

Each module (a ``.py`` file or a package folder) lands in ``site-packages/<its name>``, with
exactly the files :func:`envstacks.stages.stackspec.sourcetree.module_files` lists (the same source
filter and file set the lock metadata hashes). Files are copied without their metadata, so every
build starts from fresh timestamps, as venvstacks does.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from envstacks.floor.errors import BuildError
from envstacks.floor.fs import remove_path
from envstacks.stages.stackspec.model import ApplicationSpec
from envstacks.stages.stackspec.sourcetree import module_files


def app_modules(layer: ApplicationSpec) -> tuple[Path, ...]:
    """The launch module (if copied) and the support modules of an application."""
    launch = (layer.launch_module,) if layer.launch_module is not None else ()
    return (*launch, *layer.support_modules)


def copy_modules(layer: ApplicationSpec, site_dir: Path, *, previous: Iterable[str]) -> list[str]:
    """Replace the modules of an earlier build (``previous`` names) with the current ones.

    Returns the top-level names now copied.

    Raises:
        BuildError: a module is missing or would replace something an installed package owns.
    """
    for name in previous:
        remove_path(site_dir / name)
    names: list[str] = []
    for module in app_modules(layer):
        if not module.exists():
            raise BuildError(
                f"application '{layer.name}' ({layer.toml_path}): module {module} does not exist",
                hint="restore it or change launch_module / support_modules",
            )
        target = site_dir / module.name
        if target.exists() or target.is_symlink():
            raise BuildError(
                f"application '{layer.name}' ({layer.toml_path}): module '{module.name}' would "
                f"replace {target}, which an installed package provides",
                hint="rename the module or drop the package that ships the same name",
            )
        for source in module_files(module):
            destination = target / source.relative_to(module) if module.is_dir() else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        if module.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        names.append(module.name)
    return names
