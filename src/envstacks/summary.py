"""The line that ends every verb: what changed, what was already current, and how long it took.

Every front-end (the CLI, ``pdm venvstacks``, ``hatch build -t venvstacks``) prints the same
words, built here from the run's result values:
``done in 12.3 s: 2 layers locked, 1 unchanged; 3 built, 0 up to date; 3 archives written``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envstacks.deploy import DeployResult
    from envstacks.pipeline import StackResult
    from envstacks.status import StackStatus


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _pair(done: str, kept: int, kept_word: str) -> str:
    """``"2 layers built, 1 up to date"`` (the second half only when something was kept)."""
    return done + (f", {kept} {kept_word}" if kept else "")


def stack_parts(result: StackResult) -> list[str]:
    """One phrase per step that ran: locked, built, archives written (or not), exported.

    The first phrase about layers says "layers"; the ones after it only give the count.
    """
    steps: list[tuple[int, str, int, str]] = []
    if result.locked:
        changed = sum(r.changed for r in result.locked)
        steps.append((changed, "locked", len(result.locked) - changed, "unchanged"))
    if result.built:
        built = sum(r.built for r in result.built)
        steps.append((built, "built", len(result.built) - built, "up to date"))
    parts = [
        _pair(f"{_plural(done, 'layer') if not index else done} {word}", kept, kept_word)
        for index, (done, word, kept, kept_word) in enumerate(steps)
    ]
    if result.published is not None:
        layers = result.published.layers
        written = sum(item.status == "published" for item in layers)
        planned = sum(item.status == "would publish" for item in layers)
        unchanged = len(layers) - written - planned
        done = (
            f"{_plural(planned, 'archive')} would be written"
            if planned
            else (f"{_plural(written, 'archive')} written")
        )
        parts.append(_pair(done, unchanged, "unchanged"))
    if result.exported:
        exported = sum(e.exported for e in result.exported)
        noun = _plural(exported, "layer") if not parts else str(exported)
        parts.append(_pair(f"{noun} exported", len(result.exported) - exported, "up to date"))
    return parts


def stack_summary(result: StackResult, seconds: float) -> str:
    """The end line of a lock, build, publish or export run."""
    return finished(stack_parts(result), seconds)


def deploy_summary(result: DeployResult, seconds: float) -> str:
    """The end line of a deploy."""
    parts = [
        _pair(
            f"{_plural(len(result.installed), 'layer')} installed", len(result.reused), "up to date"
        )
    ]
    if result.refused:
        parts.append(f"{len(result.refused)} refused")
    return finished(parts, seconds)


def status_summary(status: StackStatus, seconds: float) -> str:
    """The end line of ``show``: how many layers, how many need locking."""
    layers = (*status.runtimes, *status.frameworks, *status.applications)
    stale = sum(not layer.has_valid_lock for layer in layers)
    parts = [_plural(len(layers), "layer")]
    if stale:
        parts.append(f"{stale} {'needs' if stale == 1 else 'need'} locking")
    return finished([", ".join(parts)], seconds)


def finished(parts: list[str], seconds: float) -> str:
    """``done in 1.2 s: <parts joined by '; '>`` (``nothing to do`` without parts)."""
    return f"done in {seconds:.1f} s: {'; '.join(parts) if parts else 'nothing to do'}"
