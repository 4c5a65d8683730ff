"""Run ``uv lock`` and ``uv export`` on a generated layer project, and explain their failures."""

from __future__ import annotations

import re
from pathlib import Path

from envstacks import proc
from envstacks.errors import LockError
from envstacks.lock.pylock import LockedPackage
from envstacks.lock.uvproject import UvProject
from envstacks.report import Reporter
from envstacks.spec.model import LayerSpec
from envstacks.uvrun import run_uv

#: File (in the generated project's folder) that receives uv's raw export.
EXPORT_FILE = "pylock.export.toml"


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


def uv_lock(project: UvProject, *, python: Path, layer: LayerSpec, reporter: Reporter) -> None:
    """Resolve the layer's project into ``uv.lock``.

    Raises:
        LockError: uv found no solution (or failed otherwise); the message quotes uv.
    """
    result = run_uv(
        [
            "lock",
            "--project",
            project.directory,
            # Settings come only from the generated file: with an explicit configuration file
            # uv reads neither the user's nor the system's uv.toml (see uvproject).
            "--config-file",
            project.settings,
            "--python",
            python,
            # A uv.lock left by an earlier run must have no say in the new resolution.
            "--upgrade",
        ],
        reporter=reporter,
        what=f"lock layer {layer.build_name!r}",
        error=LockError,
        cwd=project.directory,
        check=False,
    )
    if result.returncode != 0:
        raise resolution_error(layer, project, (result.stderr or "") + (result.stdout or ""))


def uv_export(project: UvProject, *, python: Path, layer: LayerSpec, reporter: Reporter) -> Path:
    """Export the resolved ``uv.lock`` as a PEP 751 lock into the project folder; return its path.

    Raises:
        LockError: uv failed (its output is quoted).
    """
    target = project.directory / EXPORT_FILE
    target.unlink(missing_ok=True)
    result = run_uv(
        [
            "export",
            "--project",
            project.directory,
            "--config-file",
            project.settings,
            "--python",
            python,
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
        reporter=reporter,
        what=f"export the lock of layer {layer.build_name!r}",
        error=LockError,
        cwd=project.directory,
        check=False,
    )
    if result.returncode != 0 or not target.exists():
        raise LockError(
            f"Layer {layer.build_name!r}: `uv export` failed:\n"
            + _uv_explanation((result.stderr or "") + (result.stdout or "")),
            hint=f"the generated project is {project.pyproject}",
        )
    exported = proc.tail(target.read_text("utf-8"))
    reporter.debug(f"{layer.build_name}: uv exported {target}:\n{exported}")
    return target
