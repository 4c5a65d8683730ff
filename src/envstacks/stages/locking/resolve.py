"""Resolve one layer with uv: its generated project, ``uv lock``, ``uv export``, post-processing.

:func:`resolve_layer` returns the text of the layer's lock; it writes nothing but the generated
project (``<build-dir>/<layer>_resolve/``). uv's failures are explained in the error, naming
the pins of lower layers that take part in a conflict.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import LockError
from envstacks.floor.report import Reporter
from envstacks.floor.uvrun import run_uv
from envstacks.stages.locking import marker_eval as markers
from envstacks.stages.locking import postprocess, uvproject
from envstacks.stages.locking.project_dist import project_key
from envstacks.stages.locking.pylock import LockedLayer, LockedPackage, load_pylock
from envstacks.stages.locking.uvproject import UvProject
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec

#: File (in the generated project's folder) that receives uv's raw export.
EXPORT_FILE = "pylock.export.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockOptions:
    """Command-line choices for the lock step (never recorded as lock inputs)."""

    #: ``False`` = ``--no-index``: only find-links and local wheels.
    index: bool = True
    #: ``--local-wheels`` folders (extra find-links); the lock records paths relative to it.
    local_wheels: tuple[Path, ...] = ()
    #: The project's freshly built wheel, for layers that require the project itself.
    project_wheel: Path | None = None
    #: ``lock --clean``: provision afresh the runtime environments locking uses (the
    #: orchestrator removes them first).
    clean: bool = False


def _uv_explanation(output: str) -> str:
    """Quote uv's error report: from its first ``error:`` line on (no progress chatter)."""
    lines = output.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    chosen = lines[start:] if start is not None else lines[-20:]
    return "\n".join(f"  {line}" for line in chosen if line.strip())


def _mentioned(pins: tuple[LockedPackage, ...], text: str) -> list[LockedPackage]:
    return [
        pin
        for pin in pins
        if re.search(rf"(?<![\w.-]){re.escape(pin.name)}(?![\w-])", text, re.IGNORECASE)
    ]


def resolution_error(layer: LayerSpec, project: UvProject, output: str) -> LockError:
    """The error for a failed ``uv lock``, quoting uv's own explanation.

    When uv found no solution, the message says which conflicting pins come from which lower
    layer, and the fix names the layer's ``requirements`` in the spec.
    """
    explanation = _uv_explanation(output)
    name = layer.build_name
    if "No solution found" not in output:
        return LockError(
            f"Layer {name!r}: uv could not lock the layer:\n{explanation}",
            hint=f"the generated project is {project.pyproject}; run "
            f"`uv lock --project {project.directory} --config-file {project.settings}` to retry",
        )
    lines = [
        f"Layer {name!r}: no set of packages satisfies the layer's requirements"
        + (" together with the pins of its lower layers" if project.constraints else "")
        + ". uv explains:",
        explanation,
    ]
    involved = _mentioned(project.pins, output)
    if involved:
        lines.append("Pins from lower layers in that conflict:")
        lines.extend(
            f"  {pin.requirement} (locked in layer {project.pinned_by.get(pin.key, '?')!r})"
            for pin in involved
        )
    fix = f"change {layer.toml_path}.requirements"
    if involved:
        fix += " so they accept the lower layers' versions, or relock the lower layers"
    return LockError("\n".join(lines), hint=fix)


def _run_uv(
    project: UvProject,
    command: str,
    args: list[str | Path],
    *,
    python: Path,
    what: str,
    reporter: Reporter,
) -> subprocess.CompletedProcess[str]:
    """Run ``uv <command>`` on the generated project (failures are the caller's to explain)."""
    return run_uv(
        [
            command,
            "--project",
            project.directory,
            # Settings come only from the generated file: with an explicit configuration file
            # uv reads neither the user's nor the system's uv.toml (see uvproject).
            "--config-file",
            project.settings,
            "--python",
            python,
            *args,
        ],
        reporter=reporter,
        what=what,
        error=LockError,
        cwd=project.directory,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr or "") + (result.stdout or "")


def uv_lock(project: UvProject, *, python: Path, layer: LayerSpec, reporter: Reporter) -> None:
    """Resolve the layer's project into ``uv.lock``.

    Raises:
        LockError: uv found no solution (or failed otherwise); the message quotes uv.
    """
    result = _run_uv(
        project,
        "lock",
        # A uv.lock left by an earlier run must have no say in the new resolution.
        ["--upgrade"],
        python=python,
        what=f"lock layer {layer.build_name!r}",
        reporter=reporter,
    )
    if result.returncode != 0:
        raise resolution_error(layer, project, _output(result))


def uv_export(project: UvProject, *, python: Path, layer: LayerSpec, reporter: Reporter) -> Path:
    """Export the resolved ``uv.lock`` as a PEP 751 lock into the project folder; return its path.

    Raises:
        LockError: uv failed (its output is quoted).
    """
    # A fixed name (uv accepts only pylock.toml or pylock.<name>.toml, no temporary name):
    # two locks never share it, as each holds the build folder (envstacks.floor.folderlock).
    target = project.directory / EXPORT_FILE
    target.unlink(missing_ok=True)
    result = _run_uv(
        project,
        "export",
        [
            # Export exactly what `uv lock` just resolved; fail rather than resolve again.
            "--locked",
            "--format",
            "pylock.toml",
            # envstacks writes its own header (uv's names a command line of this machine).
            "--no-header",
            # The generated project only carries the requirements; it is not part of the layer.
            "--no-emit-project",
            # Annotations ("via ...") contain file paths of the build machine.
            "--no-annotate",
            "--output-file",
            target,
        ],
        python=python,
        what=f"export the lock of layer {layer.build_name!r}",
        reporter=reporter,
    )
    if result.returncode != 0 or not target.exists():
        raise LockError(
            f"Layer {layer.build_name!r}: `uv export` failed:\n" + _uv_explanation(_output(result)),
            hint=f"the generated project is {project.pyproject}",
        )
    exported = proc.tail(target.read_text("utf-8"))
    reporter.debug(f"{layer.build_name}: uv exported {target}:\n{exported}")
    return target


def python_version(python: Path, spec: StackSpec, layer: LayerSpec, reporter: Reporter) -> str:
    """The full Python version to evaluate markers with, after checking the interpreter.

    Raises:
        LockError: ``python`` is not of the runtime's Python feature version.
    """
    runtime = spec.runtime_of(layer)
    result = proc.run(
        [python, "-I", "-c", "import platform; print(platform.python_version())"],
        reporter=reporter,
        what=f"ask the interpreter {python} for its version",
        error=LockError,
    )
    found = result.stdout.strip()
    if ".".join(found.split(".")[:2]) != runtime.py_version:
        raise LockError(
            f"Layer {layer.build_name!r}: cannot lock with {python}: it is Python {found}, "
            f"but runtime {runtime.build_name!r} is Python {runtime.py_version}",
            hint=f"pass an interpreter of Python {runtime.py_version} (the runtime layer's own)",
        )
    # The spec's full version makes markers independent of the machine that locks.
    return runtime.python_version if runtime.python_version.count(".") >= 2 else found


def _lower_locks(spec: StackSpec, layer: LayerSpec) -> dict[str, LockedLayer]:
    return {
        dep.build_name: load_pylock(stack_paths.pylock_path(spec, dep), layer=dep.build_name)
        for dep in spec.dependencies(layer)
    }


def resolve_layer(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    python: Path,
    full_version: str,
    options: LockOptions,
    project_requires: tuple[str, ...] | None,
    reporter: Reporter,
) -> str:
    """Run uv for the layer and return the post-processed lock text.

    Args:
        spec: the stack.
        layer: the layer; its lower layers must have valid locks.
        python: an interpreter of the runtime's Python feature version.
        full_version: the Python version markers are evaluated with (:func:`python_version`).
        options: command-line choices.
        project_requires: the project wheel's ``Requires-Dist`` when the layer requires the
            project (``None`` otherwise).
        reporter: receives progress and messages.
    """
    name = layer.build_name
    with reporter.task(name, "lock", total=4) as task:
        task.note("writing the uv project")
        project = uvproject.write_project(
            spec,
            layer,
            locks=_lower_locks(spec, layer),
            python_version=full_version,
            index=options.index,
            find_links=options.local_wheels,
            project_wheel=options.project_wheel if project_requires is not None else None,
        )
        reporter.debug(
            f"{name}: uv project {project.pyproject}:\n" + project.pyproject.read_text("utf-8")
        )
        task.advance()
        task.note("resolving (uv lock)")
        uv_lock(project, python=python, layer=layer, reporter=reporter)
        task.advance()
        task.note("exporting (uv export)")
        exported = uv_export(project, python=python, layer=layer, reporter=reporter)
        task.advance()
        task.note("checking markers, shared packages and wheels")
        data = postprocess.postprocess(
            tomllib.loads(exported.read_text("utf-8")),
            _context(spec, layer, project, full_version, project_requires),
        )
        task.advance()
    return postprocess.render(data, name)


def _context(
    spec: StackSpec,
    layer: LayerSpec,
    project: UvProject,
    full_version: str,
    project_requires: tuple[str, ...] | None,
) -> postprocess.Context:
    """What post-processing the layer's export needs to know."""
    return postprocess.Context(
        layer=layer,
        environments=markers.environments(
            layer.platforms,
            implementation=spec.runtime_of(layer).implementation,
            python_full_version=full_version,
        ),
        pins=project.pins,
        lock_dir=stack_paths.requirements_dir(spec, layer),
        export_dir=project.directory,
        project=project_key(spec) if project_requires is not None else None,
        project_requires=project_requires or (),
    )
