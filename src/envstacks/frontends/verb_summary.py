"""The line that ends every verb: what changed, what was already current, and how long it took.

Every front-end (the CLI, ``pdm venvstacks``, ``hatch build -t venvstacks``) prints the same
words, built here from the run's result values:
``done in 12.3 s: 2 layers locked, 1 unchanged; 3 layers built; 3 archives written in
dist/venvstacks``, or on a second run ``done in 1.2 s: 3 locks unchanged; 3 layers up to date;
3 archives unchanged in dist/venvstacks``. The CLI and ``pdm venvstacks`` follow it with the
usual next command (:func:`next_command`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envstacks.floor.report import plural

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackResult
    from envstacks.orchestrator.status import StackStatus
    from envstacks.stages.deploying import DeployResult


def _phrase(
    done: int, did: str, kept: int, kept_word: str, *, noun: str = "layer", kept_noun: str = ""
) -> str:
    """``"2 layers built, 1 up to date"``, ``"3 layers built"`` or ``"3 locks unchanged"``."""
    if done and kept:
        return f"{plural(done, noun)} {did}, {kept} {kept_word}"
    if done or not kept:
        return f"{plural(done, noun)} {did}"
    return f"{plural(kept, kept_noun or noun)} {kept_word}"


def stack_parts(result: StackResult) -> list[str]:
    """One phrase per step that ran: locks, builds, archives (written or not), exports."""
    parts: list[str] = []
    if result.locked:
        new = sum(r.changed for r in result.locked)
        parts.append(
            _phrase(new, "locked", len(result.locked) - new, "unchanged", kept_noun="lock")
        )
    if result.built:
        built = sum(r.built for r in result.built)
        parts.append(_phrase(built, "built", len(result.built) - built, "up to date"))
    if result.published is not None:
        layers = result.published.layers
        written = sum(item.status == "published" for item in layers)
        planned = sum(item.status == "would publish" for item in layers)
        unchanged = len(layers) - written - planned
        did = "would be written" if planned else "written"
        phrase = _phrase(planned or written, did, unchanged, "unchanged", noun="archive")
        if not result.published.dry_run:  # where to find them
            phrase += f" in {shown_path(result.published.output_dir)}"
        parts.append(phrase)
    if result.pushed is not None:
        parts.append(f"pushed to {result.pushed.reference}")
    if result.exported:
        new = sum(e.exported for e in result.exported)
        parts.append(
            _phrase(new, "exported", len(result.exported) - new, "up to date", kept_noun="export")
        )
    return parts


def shown_path(path: Path) -> str:
    """A path for a message: relative to the current folder when it is inside it."""
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(relative) if relative.parts else "."


def next_command(
    verb: str, result: StackResult, *, prog: str = "envstacks", include: Sequence[str] = ()
) -> str | None:
    """The command that usually follows ``verb`` after ``result`` (``None``: no usual next).

    lock → build, build → publish, publish → deploy (or push), the selection kept.
    """
    selection = "".join(f" --include {shlex.quote(pattern)}" for pattern in include)
    published = result.published
    to_write = published is not None and any(
        item.status == "would publish" for item in published.layers
    )
    if published is not None and not to_write:  # the archives are there
        if result.pushed is not None:
            return f"{prog} deploy {result.pushed.reference} --target DIR"
        folder = shlex.quote(shown_path(published.output_dir))
        return (
            f"{prog} deploy {folder} --target DIR, or {prog} push {folder} --to oci://HOST/REPO:TAG"
        )
    if to_write:
        return f"{prog} publish{selection}"
    if verb == "lock" and result.locked:
        return f"{prog} build{selection}"
    return None


def stack_summary(result: StackResult, seconds: float) -> str:
    """The end line of a lock, build, publish or export run."""
    return finished(stack_parts(result), seconds)


def deploy_summary(result: DeployResult, seconds: float) -> str:
    """The end line of a deploy."""
    installed, reused = len(result.installed), len(result.reused)
    parts = [_phrase(installed, "installed", reused, "up to date")]
    if result.refused:
        parts.append(f"{len(result.refused)} refused")
    return finished(parts, seconds)


def status_summary(status: StackStatus, seconds: float) -> str:
    """The end line of ``show``: how many layers, how many need locking."""
    layers = (*status.runtimes, *status.frameworks, *status.applications)
    stale = sum(not layer.has_valid_lock for layer in layers)
    parts = [plural(len(layers), "layer")]
    if stale:
        parts.append(f"{stale} {'needs' if stale == 1 else 'need'} locking")
    return finished([", ".join(parts)], seconds)


def finished(parts: list[str], seconds: float) -> str:
    """``done in 1.2 s: <parts joined by '; '>`` (``nothing to do`` without parts)."""
    return f"done in {seconds:.1f} s: {'; '.join(parts) if parts else 'nothing to do'}"
