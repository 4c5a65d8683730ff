"""Deploy published layers into a target folder: fetch, verify, unpack safely, place, postinstall.

:func:`deploy` reads top to bottom: open the source and its manifest, select the layers,
repair what an interrupted run left, reuse layers already deployed from the same archive, then

1. in parallel, for each other layer: fetch the archive, verify size and sha256, unpack it
   into a work folder inside the target (refusals end here and change nothing);
2. in dependency order (runtime first): move an older copy aside, rename the unpacked folder
   into place, run its ``postinstall.py``, record it in ``deployed.json``, drop the older copy.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pluggy

from envstacks import proc
from envstacks.deploy.fetch import Source, archive_location, fetch_archive, open_source
from envstacks.deploy.manifest import ManifestLayer, parse_manifest, select_layers
from envstacks.deploy.record import (
    DeployedLayer,
    deploy_lock,
    load_state,
    old_name,
    recover,
    save_state,
)
from envstacks.deploy.result import DeployResult, RefusedLayer
from envstacks.deploy.unpack import unpack_layer
from envstacks.deploy.verify import verify_archive
from envstacks.errors import DeployError, EnvStacksError
from envstacks.fs import discard, fsync_dir, temporary_name
from envstacks.layout import LAYER_CONFIG, METADATA_DIR
from envstacks.pack.formats import format_for_archive
from envstacks.platforms import host_platform
from envstacks.report import Reporter

#: Where downloaded archives are kept until their layer is in place.
DOWNLOADS = ".envstacks-downloads"


def deploy(
    source: str | Path,
    target: Path,
    *,
    include: Sequence[str] = (),
    pm: pluggy.PluginManager,
    reporter: Reporter,
    jobs: int | None = None,
    platform: str | None = None,
    raise_on_refusal: bool = True,
) -> DeployResult:
    """Install the published layers of ``source`` (and the layers they need) into ``target``.

    Args:
        source: a publish output folder, a manifest file, or an http(s):// or file:// URL.
        target: the deployment folder (created if missing); layers go side by side in it.
        include: fnmatch patterns of layers to deploy (with what they need); empty: all.
        pm: the plugin manager (archive formats).
        reporter: receives progress and messages.
        jobs: archives fetched and unpacked at once (default: one per core).
        platform: the platform whose manifest to prefer (default: this machine's).
        raise_on_refusal: raise when a layer is refused (otherwise only report it).

    Raises:
        VerificationError: (first refusal) an archive's size or sha256 differs from the manifest.
        UnsafeArchiveError: (first refusal) an archive holds an entry that could escape the target.
        DeployError: the source, the manifest or a postinstall step failed.
    """
    target = Path.cwd() / target  # absolute, but symlinks kept: layers link by relative paths
    target.mkdir(parents=True, exist_ok=True)
    platform = platform if platform is not None else host_platform()
    with deploy_lock(target):
        src = open_source(source, platform=platform, reporter=reporter)
        layers = parse_manifest(src.manifest, where=src.manifest_location)
        _check_platform(layers, platform, src.manifest_location)
        selected = select_layers(layers, include, where=src.manifest_location)
        records = recover(target, load_state(target), reporter)
        reused: list[str] = []
        moved: set[str] = set()  # reused, but the folder moved since: run postinstall again
        refused: dict[str, tuple[RefusedLayer, EnvStacksError]] = {}
        pending: list[ManifestLayer] = []
        for layer in selected:
            record = records.get(layer.install_target)
            if (
                record is not None
                and _same_archive(record, layer)
                and (target / layer.install_target).is_dir()
            ):
                reused.append(layer.install_target)
                if record.path != str(target / layer.install_target):
                    moved.add(layer.install_target)
            elif record is None and os.path.lexists(target / layer.install_target):
                error = DeployError(
                    f"{target / layer.install_target} exists but was not deployed by envstacks "
                    f"(no record in {METADATA_DIR}/deployed.json); it was left untouched",
                    hint="move it away or deploy into another folder",
                )
                refused[layer.install_target] = (_refusal(layer, error), error)
            else:
                pending.append(layer)
        unpacked = _prepare_all(
            src, pending, target, pm=pm, reporter=reporter, jobs=jobs, refused=refused
        )
        installed: list[str] = []
        try:
            for layer in selected:  # dependency order: the runtime's postinstall runs first
                if layer.install_target in moved:
                    records = _reconfigure(layer, target, records, reporter=reporter)
                workdir = unpacked.pop(layer.install_target, None)
                if workdir is None:
                    continue
                blocked = [dep for dep in layer.depends_on if dep in refused]
                if blocked:
                    error = DeployError(
                        f"layer {layer.install_target!r} needs {blocked[0]!r}, which was refused"
                    )
                    refused[layer.install_target] = (_refusal(layer, error), error)
                    shutil.rmtree(workdir, ignore_errors=True)
                    continue
                records = _place(layer, workdir, target, records, reporter=reporter)
                installed.append(layer.install_target)
        finally:
            for workdir in unpacked.values():
                shutil.rmtree(workdir, ignore_errors=True)
        if not refused:  # keep partial downloads for the next attempt to resume
            shutil.rmtree(target / DOWNLOADS, ignore_errors=True)
    result = DeployResult(
        target=target,
        source=src.manifest_location,
        installed=tuple(installed),
        reused=tuple(reused),
        refused=tuple(entry for entry, _ in refused.values()),
    )
    if refused and raise_on_refusal:
        first = next(iter(refused.values()))[1]
        raise type(first)("\n".join(entry.reason for entry, _ in refused.values()), hint=first.hint)
    return result


def _check_platform(layers: Sequence[ManifestLayer], platform: str | None, where: str) -> None:
    others = sorted(
        {layer.target_platform for layer in layers if layer.target_platform} - {platform}
    )
    if platform is not None and others:
        raise DeployError(
            f"{where}: published for {', '.join(others)}, but this machine is {platform}",
            hint="deploy the archives published on (or for) this platform",
        )


def _same_archive(record: DeployedLayer, layer: ManifestLayer) -> bool:
    """Whether a deployed layer came from this archive (or the same tree, recompressed)."""
    if record.state != "installed":
        return False
    if record.archive_sha256 == layer.archive_sha256:
        return True
    return record.tree_sha256 is not None and record.tree_sha256 == layer.tree_sha256


def _refusal(layer: ManifestLayer, error: EnvStacksError) -> RefusedLayer:
    return RefusedLayer(
        install_target=layer.install_target, reason=error.message, error=type(error).__name__
    )


def _prepare_all(
    src: Source,
    layers: Sequence[ManifestLayer],
    target: Path,
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
    jobs: int | None,
    refused: dict[str, tuple[RefusedLayer, EnvStacksError]],
) -> dict[str, Path]:
    """Fetch, verify and unpack ``layers`` in parallel; return their work folders.

    A layer whose archive is refused (verification, unsafe content, missing) is recorded in
    ``refused``; any other failure removes every work folder and propagates.
    """
    workers = max(1, min(jobs or os.cpu_count() or 1, len(layers) or 1))
    unpacked: dict[str, Path] = {}
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="deploy") as pool:
        futures = {
            pool.submit(_prepare, src, layer, target, pm=pm, reporter=reporter): layer
            for layer in layers
        }
        failure: BaseException | None = None
        for future in concurrent.futures.as_completed(futures):
            layer = futures[future]
            try:
                unpacked[layer.install_target] = future.result()
            except DeployError as exc:
                refused[layer.install_target] = (_refusal(layer, exc), exc)
            except BaseException as exc:  # cleaned up and re-raised below
                failure = failure or exc
    if failure is not None:
        for workdir in unpacked.values():
            shutil.rmtree(workdir, ignore_errors=True)
        raise failure
    return unpacked


def _prepare(
    src: Source, layer: ManifestLayer, target: Path, *, pm: pluggy.PluginManager, reporter: Reporter
) -> Path:
    """Fetch, verify and unpack one layer into a fresh work folder inside ``target``."""
    fmt = format_for_archive(pm, layer.archive_name, declared=layer.archive_format)
    with reporter.task(layer.install_target, "fetch", total=layer.archive_size) as task:
        archive, downloaded = fetch_archive(
            src,
            layer.archive_name,
            size=layer.archive_size,
            downloads=target / DOWNLOADS,
            task=task,
        )
    try:
        with reporter.task(layer.install_target, "verify", total=layer.archive_size) as task:
            verify_archive(
                archive,
                archive_name=layer.archive_name,
                size=layer.archive_size,
                sha256=layer.archive_sha256,
                task=task,
            )
    except DeployError:
        if downloaded:  # a bad download must not be reused by the next attempt
            archive.unlink(missing_ok=True)
        raise
    reporter.debug(f"verified {archive_location(src, layer.archive_name)}")
    workdir = target / temporary_name(layer.install_target)
    workdir.mkdir()
    try:
        with reporter.task(layer.install_target, "unpack", total=layer.archive_size) as task:
            unpack_layer(
                fmt,
                archive,
                workdir,
                install_target=layer.install_target,
                archive_name=layer.archive_name,
                target=target,
                task=task,
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if downloaded:
        archive.unlink(missing_ok=True)
    return workdir


def _place(
    layer: ManifestLayer,
    workdir: Path,
    target: Path,
    records: dict[str, DeployedLayer],
    *,
    reporter: Reporter,
) -> dict[str, DeployedLayer]:
    """Put an unpacked layer under its final name, run its postinstall; return the new records."""
    name = layer.install_target
    final = target / name
    previous = records.get(name)
    new = DeployedLayer(
        path=str(final),
        install_target=name,
        layer_name=layer.layer_name,
        archive_name=layer.archive_name,
        archive_sha256=layer.archive_sha256,
        tree_sha256=layer.tree_sha256,
    )
    records = {**records, name: dataclasses.replace(new, state="installing", previous=previous)}
    save_state(target, records)
    old: Path | None = None
    if os.path.lexists(final):
        old = target / old_name(name)
        final.rename(old)
    (workdir / name).rename(final)
    fsync_dir(target)
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        with reporter.task(name, "postinstall"):
            run_postinstall(target, layer, reporter=reporter)
    except BaseException:
        discard(final)
        if old is not None:
            old.rename(final)
        records = {key: value for key, value in records.items() if key != name}
        if previous is not None:
            records[name] = previous
        save_state(target, records)
        raise
    records = {**records, name: new}
    save_state(target, records)
    if old is not None:
        discard(old)
    return records


def _reconfigure(
    layer: ManifestLayer, target: Path, records: dict[str, DeployedLayer], *, reporter: Reporter
) -> dict[str, DeployedLayer]:
    """Run a reused layer's postinstall again: the deployment folder moved since it ran."""
    name = layer.install_target
    reporter.info(f"{name}: the deployment folder moved; running postinstall.py again")
    with reporter.task(name, "postinstall"):
        run_postinstall(target, layer, reporter=reporter)
    records = {**records, name: dataclasses.replace(records[name], path=str(target / name))}
    save_state(target, records)
    return records


def run_postinstall(target: Path, layer: ManifestLayer, *, reporter: Reporter) -> None:
    """Run a placed layer's ``postinstall.py`` (any Python 3 can run it; see _injected).

    A runtime's script runs with the Python running envstacks; every other layer's with its
    deployed runtime's interpreter, which also proves that runtime works.

    Raises:
        DeployError: the script failed, or a layered env's runtime has no interpreter.
    """
    layer_dir = target / layer.install_target
    script = layer_dir / "postinstall.py"
    if not script.is_file():
        reporter.warning(f"layer {layer.install_target!r} has no postinstall.py; not configured")
        return
    if layer.runtime_layer == layer.install_target:
        python: Path | None = Path(sys.executable)
    else:
        python = runtime_python(target / layer.runtime_layer)
    if python is None:
        raise DeployError(
            f"layer {layer.install_target!r}: its runtime {layer.runtime_layer!r} has no "
            "Python interpreter to run postinstall.py with",
            hint="redeploy the runtime layer",
        )
    proc.run(
        [python, "-X", "utf8", "-I", script],
        cwd=layer_dir,
        reporter=reporter,
        what=f"run postinstall.py of layer {layer.install_target!r}",
        error=DeployError,
    )


def runtime_python(runtime_dir: Path) -> Path | None:
    """The interpreter of a deployed runtime layer: its config's ``python``, or a usual name."""
    candidates: list[str] = []
    try:
        config = json.loads((runtime_dir / LAYER_CONFIG).read_text(encoding="utf-8"))
        if isinstance(config.get("python"), str):
            candidates.append(config["python"])
    except (OSError, ValueError, AttributeError):
        pass
    candidates += ["bin/python3", "bin/python", "python.exe"]
    for relative in candidates:
        path = runtime_dir / relative
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None
