"""The verbs on published folders: deploy, merge and push enter here, as stack verbs enter ``run``.

Each opens what it reads first (a deploy's source: a folder, a manifest, a URL or an
``oci://`` registry reference), then holds the folder it writes (or pushes) for its whole
duration and turns the file system's refusals into clear errors
(:func:`envstacks.floor.work_folders.guarded`), runs the stage with its options as one value,
and fires the lifecycle hooks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envstacks.floor.fs import remove_tree
from envstacks.floor.work_folders import WorkFolder, guarded
from envstacks.orchestrator.plugins import get_plugin_manager

if TYPE_CHECKING:
    import pluggy

    from envstacks.floor.report import Reporter
    from envstacks.published.sources import Source
    from envstacks.stages.deploying import DeployOptions, DeployResult
    from envstacks.stages.merging.combine import MergeResult
    from envstacks.stages.oci import PushOptions, PushResult

__all__ = ["deploy", "merge", "open_deploy_source", "open_registry", "push"]


def open_registry(reference: str, *, reporter: Reporter, insecure: bool) -> Source:
    """An ``oci://`` reference opened for this machine's platform (needs the oci extra).

    Plain HTTP to a registry away from this machine only when ``insecure``.
    """
    from envstacks.floor.platforms import host_platform  # noqa: PLC0415
    from envstacks.stages.oci import open_oci_source  # noqa: PLC0415 - the oci extra

    return open_oci_source(
        reference, platform=host_platform(), reporter=reporter, insecure=insecure
    )


def open_deploy_source(
    source: str | Path | Source,
    *,
    platform: str | None,
    reporter: Reporter,
    insecure: bool = False,
) -> Source:
    """The deploy source ``source`` names, opened: its manifest is read, nothing is written.

    Raises:
        DeployError: nothing usable at ``source``.
        RegistryError: a registry refused or cannot be reached.
    """
    from envstacks.published.sources import Source, open_source  # noqa: PLC0415

    if isinstance(source, Source):
        return source
    if isinstance(source, str) and source[:6].lower() == "oci://":
        return open_registry(source, reporter=reporter, insecure=insecure)
    return open_source(source, platform=platform, reporter=reporter)


def deploy(
    source: str | Path | Source,
    target: Path,
    options: DeployOptions | None = None,
    *,
    reporter: Reporter,
    pm: pluggy.PluginManager | None = None,
    insecure: bool = False,
) -> DeployResult:
    """Install published layers from a folder, manifest, URL or registry into ``target``.

    The source is opened before anything is written (a source that cannot be read leaves no
    trace); then ``target`` is held for the whole deploy. With ``options.raise_on_refusal``
    false, refused layers are reported in the result (whose ``ok`` is then false) instead of
    raising, so a JSON summary can list them.

    Raises:
        DeployError: the source, the manifest, the deployment record or a postinstall failed
            (:class:`VerificationError`, :class:`UnsafeArchiveError` for refused archives).
        RegistryError: a registry refused or cannot be reached.
        FileSystemError: the file system refused a write (full, read-only...).
    """
    from envstacks.floor.platforms import host_platform  # noqa: PLC0415
    from envstacks.stages.deploying import DeployOptions, deploy_layers  # noqa: PLC0415
    from envstacks.stages.deploying.deploy_record import LOCK_PATH  # noqa: PLC0415
    from envstacks.stages.deploying.triage import select_for_platform  # noqa: PLC0415

    options = options or DeployOptions()
    if options.platform is None:
        options = dataclasses.replace(options, platform=host_platform())
    pm = pm if pm is not None else get_plugin_manager()
    opened = open_deploy_source(
        source, platform=options.platform, reporter=reporter, insecure=insecure
    )
    # The manifest's layers and the selection are checked before the target is made.
    select_for_platform(opened, options.include, options.platform)
    target = Path(os.path.abspath(target))  # noqa: PTH100 - `..` resolved, symlinks kept
    made = _first_missing(target)
    try:
        with guarded("deploy", [WorkFolder(path=target, lock_file=LOCK_PATH)], reporter):
            result = deploy_layers(opened, target, options, pm=pm, reporter=reporter)
    except BaseException:
        if made is not None:
            _remove_if_bare(made, keep_if_other_than=target / LOCK_PATH)
        raise
    for name in result.installed:
        pm.hook.envstacks_layer_deployed(install_target=name, path=target / name, reused=False)
    for name in (*result.reused, *result.adopted):
        pm.hook.envstacks_layer_deployed(install_target=name, path=target / name, reused=True)
    return result


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (``None``: it exists)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            return missing
        missing = candidate
    return missing


def _remove_if_bare(made: Path, *, keep_if_other_than: Path) -> None:
    """Remove the folder a failed deploy made, if it holds nothing but folders and the lock file.

    A layer, a deployment record or a kept download keeps it (the next run reuses them).
    """
    for path in made.rglob("*"):
        if path != keep_if_other_than and not (path.is_dir() and not path.is_symlink()):
            return
    remove_tree(made)


def merge(inputs: Sequence[Path], output_dir: Path, *, reporter: Reporter) -> MergeResult:
    """Merge the publish folders ``inputs`` (one per platform) into ``output_dir``.

    The output folder is held for the whole merge (a publish or another merge into it waits).

    Raises:
        PublishError: an input is damaged, or two inputs disagree about a layer or a file.
        FileSystemError: the file system refused a write (full, read-only...).
    """
    from envstacks.stages.merging.combine import merge_outputs  # noqa: PLC0415

    with guarded("merge", [WorkFolder(path=output_dir, lock_file=None)], reporter):
        return merge_outputs(inputs, output_dir, reporter=reporter)


def push(
    folder: Path,
    options: PushOptions,
    *,
    reporter: Reporter,
    platforms: Sequence[str] | None = None,
) -> PushResult:
    """Push the publish folder ``folder`` (merged or not) to the registry tag ``options.target``.

    The folder is held for the whole push (a publish or a merge into it waits, so what is
    pushed is one consistent publish); every platform it holds is pushed unless
    ``platforms`` names some.

    Raises:
        PublishError: the folder holds nothing (for a platform asked for), a name in it is
            not plain, or a listed file is missing or changed.
        RegistryError: the registry refused or cannot be reached.
        FileSystemError: the folder cannot be read.
    """
    from envstacks.floor.errors import PublishError  # noqa: PLC0415
    from envstacks.stages.oci import push_publish_folder  # noqa: PLC0415 - the oci extra

    if not folder.is_dir():
        raise PublishError(
            f"push: {folder} is not a folder",
            hint="give a publish output folder (`envstacks publish --output-dir DIR`, "
            "`envstacks merge ... --output-dir DIR`)",
        )
    with guarded("push", [WorkFolder(path=folder, lock_file=None)], reporter):
        return push_publish_folder(folder, options, reporter=reporter, platforms=platforms)
