"""Build one layer environment as decided: create, install, link and check it, record the build.

Loaded only when a layer changes (a no-op build decides in
:mod:`envstacks.stages.building.scheduler` and never imports the steps). The steps, for the
action :mod:`envstacks.stages.building.build_record` decides:

* runtime layer: provision the runtime (``CLEAN`` only), ``uv pip sync`` its lock into its own
  ``site-packages``, publish its shared libraries, write its layer config, clean up;
* framework or application: create the venv on the runtime (``CLEAN`` only), write
  ``pyvenv.cfg``, the chaining hook and the interpreter wrapper (every action), sync its lock,
  install the project wheel where the lock asks for it, copy the application's modules,
  publish its shared libraries, write its layer config, clean up;
* record the entry-point scripts it exposes and byte-compile it with its runtime's
  interpreter (``precompile``; :mod:`envstacks.stages.building.bytecode`), every action;
* then start its interpreter to check ``sys.path``, ask the ``envstacks_check_layer`` plugins,
  write the build record (the orchestrator then calls ``envstacks_layer_built``).
"""

from __future__ import annotations

import os
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import BuildError, EnvStacksError
from envstacks.floor.fs import remove_path
from envstacks.floor.report import Task
from envstacks.published.layer_config import LayerConfig, write_layer_config
from envstacks.stages.building.build_job import LayerBuild, LayerWork
from envstacks.stages.building.build_record import (
    BUILT_RUNTIME,
    Action,
    BuildRecord,
    forget_record,
    link_inputs,
    new_build_id,
    read_record,
    write_record,
)
from envstacks.stages.building.bytecode import drop_bytecode, precompile_layer
from envstacks.stages.building.chain import (
    layer_config_for,
    link_layered_env,
    write_build_pyvenv_cfg,
)
from envstacks.stages.building.copy_app_modules import copy_modules
from envstacks.stages.building.dynlib import link_shared_libraries
from envstacks.stages.building.entry_scripts import layer_scripts, write_scripts_config
from envstacks.stages.building.layer_checks import smoke_test
from envstacks.stages.building.lock_install import install_wheel, sync_lock
from envstacks.stages.building.portability import ensure_portability
from envstacks.stages.building.postinstall_copy import copy_postinstall_script
from envstacks.stages.locking import LockedLayer
from envstacks.stages.runtime import VersionRequest, provision_runtime, runtime_python
from envstacks.stages.runtime.probe import probe
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import ApplicationSpec, RuntimeSpec

#: Progress steps of each action (the check counts as one).
_STEPS = {Action.RELINK: 3, Action.UPDATE: 6, Action.CLEAN: 7}


def make_layer(job: LayerBuild, work: LayerWork, locked: LockedLayer) -> None:
    """Carry out the decided action, check the layer and record the build.

    :func:`envstacks.stages.building.scheduler.build_layer` decides the action (never
    ``NONE`` here) and has checked that every lower layer has a build record.
    """
    spec, layer = job.spec, job.layer
    action = work.decision.action
    label = action.name.lower()
    job.reporter.info(f"{layer.build_name}: {label} ({work.decision.reason})")
    previous = read_record(spec, layer)
    forget_record(spec, layer)
    with job.reporter.task(layer.build_name, f"build ({label})", total=_STEPS[action]) as task:
        if isinstance(layer, RuntimeSpec):
            config, modules = _build_runtime(
                job, work, runtime=layer, previous=previous, locked=locked, task=task
            )
        else:
            config, modules = _build_layered(job, work, previous=previous, locked=locked, task=task)
        _finish(job, config, task)
        task.note("checking")
        _check(job, config)
        task.advance()
    # A relink changes what ships only if the runtime's version changed (it is in the layer
    # config); upper layers and exports follow a layer's build id.
    keep_id = (
        action is Action.RELINK
        and previous is not None
        and previous.runtime_version == config.py_version
    )
    build_id = previous.build_id if keep_id and previous is not None else new_build_id()
    write_record(
        spec,
        layer,
        BuildRecord(
            build_id=build_id,
            inputs={**work.inputs, BUILT_RUNTIME: config.py_version},
            links=link_inputs(spec, layer) or {},
            runtime_version=config.py_version,
            modules=tuple(modules),
        ),
    )


def _build_runtime(
    job: LayerBuild,
    work: LayerWork,
    *,
    runtime: RuntimeSpec,
    previous: BuildRecord | None,
    locked: LockedLayer,
    task: Task,
) -> tuple[LayerConfig, list[str]]:
    spec = job.spec
    env = stack_paths.env_path(spec, runtime)
    if previous is not None and work.decision.action is not Action.CLEAN:
        version = previous.runtime_version
    elif (kept := _reusable_runtime(job, runtime, env, previous)) is not None:
        version = kept
    else:
        task.note("provisioning the runtime")
        remove_path(env)
        version = provision_runtime(spec, runtime, env, pm=job.pm, reporter=job.reporter).version
    task.advance()
    config = layer_config_for(spec, runtime, py_version=version)
    _install(
        job, work, env=env, python=runtime_python(env), config=config, locked=locked, task=task
    )
    write_layer_config(env, config)
    task.advance()
    return config, []


def _reusable_runtime(
    job: LayerBuild, runtime: RuntimeSpec, env: Path, previous: BuildRecord | None
) -> str | None:
    """The version of a runtime folder that can be kept although the build starts clean.

    The lock step provisions runtimes (it needs their interpreter) without a build record,
    and an interrupted build leaves one without a record too. Provisioning never leaves a
    half-made runtime, and the sync and clean-up that follow make its ``site-packages`` and
    ``bin/`` right, so such a folder is kept when its interpreter is the one requested and
    lives in it. ``--clean`` and changed inputs always provision again.
    """
    if previous is not None or job.options.clean or not runtime_python(env).exists():
        return None
    try:
        info = probe(runtime_python(env), reporter=job.reporter)
        wanted = VersionRequest.parse(runtime.python_version, layer=runtime.build_name)
    except EnvStacksError:
        return None
    if (
        info.implementation != runtime.implementation
        or not wanted.matches(info)
        or os.path.realpath(info.prefix) != os.path.realpath(env)
    ):
        return None
    job.reporter.debug(f"{runtime.build_name}: keeping the runtime already provisioned in {env}")
    return ".".join(map(str, info.version))


def _build_layered(
    job: LayerBuild,
    work: LayerWork,
    *,
    previous: BuildRecord | None,
    locked: LockedLayer,
    task: Task,
) -> tuple[LayerConfig, list[str]]:
    spec, layer = job.spec, job.layer
    env = stack_paths.env_path(spec, layer)
    runtime = spec.runtime_of(layer)
    runtime_record = read_record(spec, runtime)
    assert runtime_record is not None  # the scheduler checked every lower layer's record
    config = layer_config_for(spec, layer, py_version=runtime_record.runtime_version)
    clean = work.decision.action is Action.CLEAN or previous is None
    if clean:
        task.note("creating the virtual environment")
        remove_path(env)
        base = runtime_python(stack_paths.env_path(spec, runtime))
        proc.run(
            # -I: the runtime must not see the caller's PYTHON* settings or user site.
            [base, "-X", "utf8", "-I", "-m", "venv", "--without-pip", "--symlinks", env],
            reporter=job.reporter,
            what=f"create the virtual environment of layer '{layer.build_name}'",
            error=BuildError,
        )
        task.advance()
    task.note("linking to lower layers")
    write_build_pyvenv_cfg(env, config)
    link_layered_env(env, config)
    task.advance()
    modules = list(previous.modules) if previous is not None and not clean else []
    if work.decision.action >= Action.UPDATE:
        _install(
            job, work, env=env, python=env / config.python, config=config, locked=locked, task=task
        )
        if isinstance(layer, ApplicationSpec):
            site_dir = env / config.site_dir
            modules = copy_modules(layer, site_dir, previous=() if clean else modules)
            # Copied modules may hold shared libraries or scripts too: publish and clean again.
            link_shared_libraries(env, site_dir, layer)
            ensure_portability(env, site_dir, boundary=spec.settings.build_dir)
        copy_postinstall_script(layer, env)
    write_layer_config(env, config)
    return config, modules


def _install(
    job: LayerBuild,
    work: LayerWork,
    *,
    env: Path,
    python: Path,
    config: LayerConfig,
    locked: LockedLayer,
    task: Task,
) -> None:
    spec, layer = job.spec, job.layer
    task.note("installing")
    sync_lock(layer, python, locked, platform=job.platform, reporter=job.reporter)
    if work.project_wheel is not None:
        install_wheel(
            layer, python, work.project_wheel, platform=job.platform, reporter=job.reporter
        )
    task.advance()
    task.note("publishing shared libraries")
    site_dir = env / config.site_dir
    links = link_shared_libraries(env, site_dir, layer)
    job.reporter.debug(f"{layer.build_name}: {len(links)} shared libraries linked")
    task.advance()
    task.note("portability clean-up")
    report = ensure_portability(env, site_dir, boundary=spec.settings.build_dir)
    job.reporter.debug(
        f"{layer.build_name}: removed {len(report.removed)} files, edited "
        f"{len(report.records_edited)} RECORDs, fixed {len(report.symlinks_fixed)} symlinks"
    )
    task.advance()


def _finish(job: LayerBuild, config: LayerConfig, task: Task) -> None:
    """Record the layer's entry-point scripts, then byte-compile it (or drop its pyc files)."""
    spec, layer = job.spec, job.layer
    env = stack_paths.env_path(spec, layer)
    scripts = layer_scripts(spec, layer, env, py_version=config.py_version, reporter=job.reporter)
    write_scripts_config(env, scripts)
    if layer.precompile:
        task.note("byte-compiling")
        python = runtime_python(stack_paths.env_path(spec, spec.runtime_of(layer)))
        precompile_layer(env, python, layer=layer.build_name, reporter=job.reporter)
    else:
        drop_bytecode(env)
    task.advance()


def _check(job: LayerBuild, config: LayerConfig) -> None:
    env = stack_paths.env_path(job.spec, job.layer)
    smoke_test(env, config, layer=job.layer.build_name, reporter=job.reporter)
    answers = job.pm.hook.envstacks_check_layer(
        spec=job.spec, layer=job.layer, env_path=env, reporter=job.reporter
    )
    problems = [str(problem) for answer in answers for problem in (answer or ())]
    if problems:
        raise BuildError(
            f"layer '{job.layer.build_name}' failed {len(problems)} check(s):\n"
            + "\n".join(f"  - {problem}" for problem in problems),
            hint="fix the problems (they come from envstacks_check_layer plugins) and build again",
        )
