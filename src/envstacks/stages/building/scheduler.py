"""Build many layers: lower layers before upper ones, independent layers in parallel threads.

The work of a build is subprocesses (uv, the runtime's interpreter), so a thread pool is
enough to overlap independent layers. :class:`graphlib.TopologicalSorter` hands out a layer
when every lower layer in the same run has been built; after the first failure no new layer
starts, the running ones finish, and one :class:`~envstacks.floor.errors.BuildError` reports
every failure and every layer left unbuilt. Ctrl-C stops the running builds at their next
step (each task they report through checks a :class:`~envstacks.floor.workers.Cancellation`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import graphlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pluggy

from envstacks.floor.errors import BuildError, EnvStacksError
from envstacks.floor.fs import remove_stale_temporaries
from envstacks.floor.platforms import require_layer_platform
from envstacks.floor.report import Reporter
from envstacks.floor.workers import Cancellation
from envstacks.stages.building.build_job import (
    BuildOptions,
    BuildResult,
    LayerBuild,
    LayerToBuild,
    check_lock,
    decide,
)
from envstacks.stages.building.build_record import (
    Action,
    build_inputs,
    decide_from_record,
    link_inputs,
    read_record,
)
from envstacks.stages.locking import LockState, read_lock
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


def needs_build(
    spec: StackSpec, layer: LayerSpec, lock_state: LockState, *, project_wheel: Path | None = None
) -> tuple[bool, str]:
    """Whether building ``layer`` would change anything, and why (no side effects).

    The project wheel is only compared when given (``show`` has none to compare).
    """
    if not lock_state.has_valid_lock:
        return True, "its lock is not valid: " + "; ".join(lock_state.reasons)
    try:
        platform = require_layer_platform(layer)
    except EnvStacksError as exc:
        return True, exc.message
    inputs = build_inputs(
        spec,
        layer,
        requirements_hash=lock_state.requirements_hash,
        platform=platform,
        project_wheel=project_wheel,
    )
    decision = decide_from_record(
        spec,
        layer,
        inputs=inputs,
        links=link_inputs(spec, layer),
        compare_project=project_wheel is not None,
    )
    return decision.action is not Action.NONE, decision.reason


def build_layers(
    spec: StackSpec,
    layers: Sequence[LayerToBuild],
    *,
    lock_states: Mapping[str, LockState],
    pm: pluggy.PluginManager,
    reporter: Reporter,
    options: BuildOptions,
) -> list[BuildResult]:
    """Build the given layers, lower layers first, independent ones in parallel.

    A requested layer is brought up to date and its environment checked against its lock
    (drift repaired); one only needed below a requested one is built if missing or outdated.

    Returns one result per built layer, in the order given.

    Raises:
        BuildError: a lock is invalid (nothing is built then), a lower layer outside the
            selection has never been built, or layers failed (the others still finish).
    """
    jobs: dict[str, LayerBuild] = {}
    for item in layers:
        layer = item.layer
        jobs[layer.build_name] = LayerBuild(
            spec=spec,
            layer=layer,
            requested=item.requested,
            lock_state=check_lock(layer, lock_states.get(layer.build_name)),
            pm=pm,
            reporter=reporter,
            options=options,
            platform=require_layer_platform(layer),
        )
    _check_outside_dependencies(spec, [item.layer for item in layers], jobs)
    for stale in remove_stale_temporaries(spec.settings.build_dir):
        reporter.debug(f"removed {stale.name}, left by an interrupted run")
    results = _run(spec, jobs, max(1, options.jobs))
    return [results[item.layer.build_name] for item in layers]


def _check_outside_dependencies(
    spec: StackSpec, wanted: Sequence[LayerSpec], jobs: Mapping[str, LayerBuild]
) -> None:
    for layer in wanted:
        for dependency in spec.dependencies(layer):
            if dependency.build_name in jobs or read_record(spec, dependency) is not None:
                continue
            raise BuildError(
                f"layer '{layer.build_name}' needs lower layer '{dependency.build_name}', "
                "which has no complete build and is not part of this build",
                hint=f"include it: `envstacks build --include {dependency.build_name}` "
                "(or --build-dependencies)",
            )


def _run(spec: StackSpec, jobs: Mapping[str, LayerBuild], workers: int) -> dict[str, BuildResult]:
    """Build ``jobs`` as soon as the layers below them in the run are built, ``workers`` at once."""
    order = graphlib.TopologicalSorter(
        {
            name: [dep.build_name for dep in spec.dependencies(job.layer) if dep.build_name in jobs]
            for name, job in jobs.items()
        }
    )
    order.prepare()
    results: dict[str, BuildResult] = {}
    failures: dict[str, EnvStacksError] = {}
    running: dict[concurrent.futures.Future[BuildResult], str] = {}
    # Ctrl-C reaches this thread only: the builds on the others stop at their next step
    # (a file of a runtime copy, say) instead of running to their end.
    cancellation = Cancellation()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        while True:
            if not failures:
                running.update(
                    (pool.submit(build_layer, _watched(jobs[name], cancellation)), name)
                    for name in order.get_ready()
                )
            if not running:
                break
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                name = running.pop(future)
                try:
                    results[name] = future.result()
                except EnvStacksError as exc:
                    failures[name] = exc
                except OSError as exc:
                    failures[name] = BuildError(f"layer '{name}': {exc}")
                else:
                    order.done(name)
    except BaseException:
        cancellation.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        raise _failure(failures, [name for name in jobs if name not in results | failures])
    return results


def build_layer(job: LayerBuild) -> BuildResult:
    """Build (or update, or relink, or keep) one layer; its lower layers must be built.

    What to do is decided here; only a layer that changes loads the build steps
    (:mod:`envstacks.stages.building.builder`), so a no-op build never imports them.

    Raises:
        BuildError: the lock is invalid, a lower layer is not built, a step or a check failed.
    """
    started = time.monotonic()
    spec, layer = job.spec, job.layer
    _require_lower_builds(spec, layer)
    locked = read_lock(spec, layer)
    work = decide(job, locked)
    action = work.decision.action
    if action is Action.NONE:
        job.reporter.debug(f"{layer.build_name}: up to date, nothing to do")
    else:
        from envstacks.stages.building.builder import make_layer  # noqa: PLC0415

        make_layer(job, work, locked)
    return BuildResult(
        layer=layer.build_name,
        env_path=stack_paths.env_path(spec, layer),
        built=action is not Action.NONE,
        seconds=time.monotonic() - started,
        action=action.name.lower(),
        reason=work.decision.reason,
    )


def _require_lower_builds(spec: StackSpec, layer: LayerSpec) -> None:
    missing = [dep.build_name for dep in spec.dependencies(layer) if read_record(spec, dep) is None]
    if missing:
        raise BuildError(
            f"layer '{layer.build_name}' cannot be built: lower layer(s) "
            f"{', '.join(repr(name) for name in missing)} have no complete build",
            hint="build them too (envstacks build --include with --build-dependencies)",
        )


def _watched(job: LayerBuild, cancellation: Cancellation) -> LayerBuild:
    """``job`` reporting through a reporter whose tasks stop it once the run is cancelled."""
    return dataclasses.replace(job, reporter=cancellation.watching(job.reporter))


def _failure(failures: Mapping[str, EnvStacksError], unbuilt: Sequence[str]) -> EnvStacksError:
    if len(failures) == 1 and not unbuilt:
        return next(iter(failures.values()))
    parts = [f"{len(failures)} layer(s) failed to build:"]
    parts += [f"  {name}: {exc.message}" for name, exc in failures.items()]
    if unbuilt:
        parts.append(f"not built because of the failure: {', '.join(unbuilt)}")
    hints = [exc.hint for exc in failures.values() if exc.hint]
    return BuildError("\n".join(parts), hint=hints[0] if hints else None)
