"""Publish built layers: reproducible archives and their metadata, packed in parallel, crash-safe.

:func:`publish_layers` reads top to bottom:

1. plan each layer: its build request (the metadata minus what only the archive tells) is
   compared with the snippet of the last publish in the same folder; unchanged layers whose
   archive is still there with the recorded size and hash are skipped without staging anything;
2. pack the others in parallel: stage the built env next to the build folder (hard links),
   hash its normalised tree, write the archive under a temporary name and fsync it;
3. commit: if the current manifest names an archive about to be replaced, first rewrite it
   without that layer; then rename each archive into place and write its snippet; write the
   manifest last. At every moment the manifest on disk only names complete archives with the
   recorded size and hash.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pluggy

from envstacks import layout
from envstacks.build.state import read_record
from envstacks.errors import PublishError
from envstacks.pack import metadata as md
from envstacks.pack.archive_base import ArchiveFormat
from envstacks.pack.atomic import (
    commit,
    fsync_dir,
    fsync_file,
    remove_stale_temporaries,
    temporary_name,
    write_json,
)
from envstacks.pack.formats import get_format
from envstacks.pack.reproducible import (
    content_size,
    file_sha256,
    lock_mtime,
    scan_tree,
    tree_hash,
)
from envstacks.platforms import host_platform
from envstacks.report import Reporter
from envstacks.spec.model import LayerSpec, StackSpec

#: ``stage_layer(spec, layer, env_path, destination, *, install_targets) -> staged folder``.
StageFunction = Callable[..., Path]
Status = Literal["published", "unchanged", "would publish"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedLayer:
    """One layer's outcome."""

    #: Build name of the layer.
    layer: str
    install_target: str
    #: ``published`` (archive written), ``unchanged`` (skipped) or ``would publish`` (dry run).
    status: Status
    archive_path: Path
    snippet_path: Path
    #: The layer's published metadata (the build request only, in a dry run).
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What a publish run did (or, in a dry run, would do)."""

    output_dir: Path
    format_name: str
    dry_run: bool = False
    layers: tuple[PublishedLayer, ...] = ()
    #: ``None`` in a dry run.
    manifest_path: Path | None = None
    #: The manifest now in the folder: every layer published there for the platform.
    manifest: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> list[str]:
        """One line per layer (plus the manifest), paths relative to the output folder."""
        lines = []
        for item in self.layers:
            if self.dry_run:
                lines.append(f"{item.status}: {item.archive_path.name}")
                lines.append(json.dumps(item.metadata, indent=2, sort_keys=True))
            else:
                lines.append(f"{item.status}: {item.archive_path.relative_to(self.output_dir)}")
        if self.manifest_path is not None:
            lines.append(f"manifest: {self.manifest_path.relative_to(self.output_dir)}")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    layer: LayerSpec
    request: dict[str, Any]
    archive: Path
    snippet: Path
    #: The previous snippet, when the layer is skipped.
    unchanged: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Packed:
    plan: _Plan
    temporary: Path
    metadata: dict[str, Any]


def publish_layers(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
    output_dir: Path,
    format_name: str,
    lock_states: Mapping[str, md.LockInfo],
    tag_outputs: bool = False,
    force: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    platform: str | None = None,
    stage: StageFunction | None = None,
) -> PublishResult:
    """Archive built layers with their metadata into ``output_dir``.

    Args:
        spec: the stack.
        layers: the layers to publish (built, with valid locks, targeting ``platform``).
        pm: the plugin manager (archive formats, ``envstacks_layer_published``).
        reporter: receives per-layer progress and messages.
        output_dir: the publish folder (archives at its top, metadata in ``__venvstacks__``).
        format_name: the archive format (``"tar.zst"``, ``"tar.xz"``, ``"zip"`` or a plugin's).
        lock_states: lock states by build name (for every layer and the layers below them).
        tag_outputs: add ``-<platform>-<archive_build>`` to archive names and the platform to
            metadata names, so several platforms and builds share the folder.
        force: republish even unchanged layers (``archive_build`` goes up).
        dry_run: compute and return the build requests; write nothing.
        jobs: layers packed at once (default: one per core, at most one per layer).
        platform: the target platform (default: this machine's).
        stage: the staging function (default: :func:`envstacks.pack.stage.stage_layer`).

    Raises:
        SpecError: unknown archive format.
        PublishError: a layer is not built, has no valid lock, or packing failed.
    """
    fmt = get_format(pm, format_name)
    platform = platform or host_platform()
    if platform is None:
        raise PublishError("this machine is not one of the platforms envstacks publishes for")
    plans = [
        _plan(
            spec,
            layer,
            lock_states,
            fmt,
            platform=platform,
            output_dir=output_dir,
            tag_outputs=tag_outputs,
            force=force,
        )
        for layer in layers
    ]
    if dry_run:
        return PublishResult(
            output_dir=output_dir,
            format_name=fmt.name,
            dry_run=True,
            layers=tuple(
                _outcome(
                    plan,
                    "unchanged" if plan.unchanged else "would publish",
                    plan.unchanged or plan.request,
                )
                for plan in plans
            ),
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output_dir)
    remove_stale_temporaries(spec.settings.build_dir)
    packed = _pack_all(
        spec,
        [plan for plan in plans if plan.unchanged is None],
        fmt,
        lock_states,
        reporter=reporter,
        jobs=jobs,
        stage=stage or _default_stage(),
    )
    try:
        manifest_file, manifest = _commit(
            spec, packed, output_dir=output_dir, platform=platform, tag_outputs=tag_outputs
        )
    finally:
        for item in packed:
            item.temporary.unlink(missing_ok=True)
    outcomes: list[PublishedLayer] = []
    done = {item.plan.layer.build_name: item for item in packed}
    for plan in plans:
        written = done.get(plan.layer.build_name)
        if written is None:
            assert plan.unchanged is not None
            outcomes.append(_outcome(plan, "unchanged", plan.unchanged))
            continue
        outcomes.append(_outcome(plan, "published", written.metadata))
        pm.hook.envstacks_layer_published(
            spec=spec, layer=plan.layer, archive_path=plan.archive, metadata=written.metadata
        )
    return PublishResult(
        output_dir=output_dir,
        format_name=fmt.name,
        layers=tuple(outcomes),
        manifest_path=manifest_file,
        manifest=manifest,
    )


def _outcome(plan: _Plan, status: Status, metadata: Mapping[str, Any]) -> PublishedLayer:
    return PublishedLayer(
        layer=plan.layer.build_name,
        install_target=str(plan.request["install_target"]),
        status=status,
        archive_path=plan.archive,
        snippet_path=plan.snippet,
        metadata=metadata,
    )


def _default_stage() -> StageFunction:
    from envstacks.pack.stage import stage_layer  # noqa: PLC0415 - the build's staging step

    return stage_layer


def _build_inputs_hash(spec: StackSpec, layer: LayerSpec, requirements_hash: object) -> str:
    """``sha256:`` of what the layer's last build was made from (its content, never its paths).

    Raises:
        PublishError: the layer was never built, or was built from another lock.
    """
    record = read_record(spec, layer)
    env = layout.env_path(spec, layer)
    if record is None or not env.is_dir():
        raise PublishError(
            f"layer {layer.build_name!r} ({layer.toml_path}) is not built: no environment "
            f"with a build record at {env}",
            hint=f"run `envstacks build --include {layer.build_name}` first",
        )
    if record.inputs.get("requirements_hash") != requirements_hash:
        raise PublishError(
            f"layer {layer.build_name!r} was built from another lock "
            f"(built {record.inputs.get('requirements_hash')}, locked {requirements_hash})",
            hint=f"run `envstacks build --include {layer.build_name}` to bring it up to date",
        )
    text = json.dumps(dict(record.inputs), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _plan(
    spec: StackSpec,
    layer: LayerSpec,
    lock_states: Mapping[str, md.LockInfo],
    fmt: ArchiveFormat,
    *,
    platform: str,
    output_dir: Path,
    tag_outputs: bool,
    force: bool,
) -> _Plan:
    """The layer's build request, and the previous snippet if nothing changed since."""
    if not layer.targets(platform):
        raise PublishError(
            f"layer {layer.build_name!r} ({layer.toml_path}) does not target {platform} "
            f"(platforms: {', '.join(layer.platforms) or 'none'})",
            hint="publish it on one of its platforms, or add this one to its `platforms`",
        )
    base = md.layer_metadata(spec, layer, lock_states, platform=platform)
    base["build_inputs_hash"] = _build_inputs_hash(spec, layer, base["requirements_hash"])
    snippet = md.snippet_path(
        output_dir, layer.build_name, platform=platform, tag_outputs=tag_outputs
    )
    previous = md.read_json(snippet)
    previous_build = None
    if previous is not None and previous.get("lock_version") == base["lock_version"]:
        build = previous.get("archive_build")
        previous_build = build if isinstance(build, int) and build > 0 else None

    def request(build: int) -> dict[str, Any]:
        name = md.archive_name(
            base["install_target"],
            suffix=fmt.suffix,
            platform=platform,
            build=build,
            tag_outputs=tag_outputs,
        )
        return md.request_metadata(
            base, archive_format=fmt.name, archive_file=name, archive_build=build, platform=platform
        )

    same = request(previous_build or 1)
    if (
        not force
        and previous is not None
        and md.without_outputs(previous) == same
        and md.archive_matches(output_dir / same["archive_name"], previous, check_hash=True)
    ):
        return _Plan(
            layer=layer,
            request=same,
            archive=output_dir / same["archive_name"],
            snippet=snippet,
            unchanged=previous,
        )
    new = request(previous_build + 1 if previous_build else 1)
    return _Plan(
        layer=layer, request=new, archive=output_dir / new["archive_name"], snippet=snippet
    )


def _pack_all(
    spec: StackSpec,
    plans: Sequence[_Plan],
    fmt: ArchiveFormat,
    lock_states: Mapping[str, md.LockInfo],
    *,
    reporter: Reporter,
    jobs: int | None,
    stage: StageFunction,
) -> list[_Packed]:
    """Pack every planned layer (in parallel); on any failure remove all temporaries and raise."""
    if not plans:
        return []
    install_targets = {name: state.install_target for name, state in lock_states.items()}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(plans)))
    packed: list[_Packed] = []
    failure: BaseException | None = None
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="pack") as pool:
        futures = [
            pool.submit(_pack_one, spec, plan, fmt, install_targets, reporter=reporter, stage=stage)
            for plan in plans
        ]
        for future in concurrent.futures.as_completed(futures):
            try:
                packed.append(future.result())
            except BaseException as exc:  # every temporary is removed before re-raising
                failure = failure or exc
                for other in futures:
                    other.cancel()
    if failure is not None:
        for item in packed:
            item.temporary.unlink(missing_ok=True)
        raise failure
    order = {plan.layer.build_name: index for index, plan in enumerate(plans)}
    return sorted(packed, key=lambda item: order[item.plan.layer.build_name])


def _pack_one(
    spec: StackSpec,
    plan: _Plan,
    fmt: ArchiveFormat,
    install_targets: Mapping[str, str],
    *,
    reporter: Reporter,
    stage: StageFunction,
) -> _Packed:
    """Stage a layer next to the build folder, hash its tree, pack it under a temporary name."""
    layer = plan.layer
    root_name = str(plan.request["install_target"])
    staging = spec.settings.build_dir / temporary_name(f"publish-{layer.build_name}")
    staging.mkdir(parents=True)
    temporary = plan.archive.parent / temporary_name(plan.archive.name)
    try:
        staged = stage(
            spec,
            layer,
            layout.env_path(spec, layer),
            staging / root_name,
            install_targets=install_targets,
        )
        entries = scan_tree(staged, root_name=root_name)
        with reporter.task(
            layer.build_name, f"pack {fmt.name}", total=content_size(entries)
        ) as task:
            tree = tree_hash(entries)
            fmt.pack(
                staged,
                temporary,
                root_name=root_name,
                mtime=lock_mtime(str(plan.request["locked_at"])),
                task=task,
            )
            fsync_file(temporary)
        metadata = {
            **plan.request,
            "archive_size": temporary.stat().st_size,
            "archive_hashes": {"sha256": file_sha256(temporary)},
            "tree_hashes": {"sha256": tree},
        }
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _Packed(plan=plan, temporary=temporary, metadata=metadata)


def _commit(
    spec: StackSpec,
    packed: Sequence[_Packed],
    *,
    output_dir: Path,
    platform: str,
    tag_outputs: bool,
) -> tuple[Path, dict[str, Any]]:
    """Rename archives into place, write snippets, then the manifest (see the module docstring)."""
    manifest_file = md.manifest_path(output_dir, platform=platform, tag_outputs=tag_outputs)
    replacing = {str(item.plan.request["archive_name"]) for item in packed}
    current = md.read_json(manifest_file) or {}
    listed = {
        entry.get("archive_name")
        for entries in (current.get("layers") or {}).values()
        for entry in entries
        if isinstance(entry, Mapping)
    }
    if listed & replacing:
        interim = md.published_layers(
            output_dir, platform=platform, tag_outputs=tag_outputs, exclude=replacing
        )
        write_json(manifest_file, md.manifest(spec, interim))
    for item in packed:
        commit(item.temporary, item.plan.archive)
        write_json(item.plan.snippet, item.metadata)
    fsync_dir(output_dir)
    manifest = md.manifest(
        spec, md.published_layers(output_dir, platform=platform, tag_outputs=tag_outputs)
    )
    write_json(manifest_file, manifest)
    return manifest_file, manifest
