"""Before publishing or exporting: every selected layer built from its current lock.

One check for the whole selection, so the error names every layer that is not ready and
gives the one command that makes them all ready (following the hint of the first layer only
would meet the same error for the next one).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from envstacks.floor.errors import NotBuiltError

if TYPE_CHECKING:
    from envstacks.stages.locking import LockState
    from envstacks.stages.stackspec.model import LayerSpec, StackSpec


def require_built(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    lock_states: Mapping[str, LockState],
    *,
    include: Sequence[str] = (),
    verb: str = "publish",
) -> None:
    """Fail unless every layer is built from its current lock.

    Args:
        spec: the stack.
        layers: the layers to publish or export.
        lock_states: the lock state of every layer.
        include: the selection the user gave (``--include`` patterns), repeated in the hint.
        verb: ``"publish"`` or ``"export"``, for the message and the hint.

    Raises:
        NotBuiltError: layers are not locked, not built, or built from another lock.
    """
    from envstacks.stages.building.build_record import read_record, require_current_build  # noqa: PLC0415

    problems: list[str] = []
    unlocked = False
    for layer in layers:
        state = lock_states.get(layer.build_name)
        if state is None or not state.has_valid_lock:
            unlocked = True
            problems.append(f"{layer.build_name} (no valid lock)")
            continue
        try:
            require_current_build(spec, layer, requirements_hash=state.requirements_hash)
        except NotBuiltError:
            why = "built from another lock" if read_record(spec, layer) is not None else "not built"
            problems.append(f"{layer.build_name} ({why})")
    if not problems:
        return
    selection = "".join(f" --include {shlex.quote(pattern)}" for pattern in include)
    command = f"envstacks build{' --lock-if-needed' if unlocked else ''}{selection}"
    if verb == "publish":
        hint = (
            f"build them all first: `{command}`; "
            f"or build and publish in one go: `{command} --publish`"
        )
    else:
        hint = f"build them all first: `{command}`, then run local-export again"
    count = len(problems)
    raise NotBuiltError(
        f"cannot {verb}: {count} of the selected layers {'is' if count == 1 else 'are'} "
        f"not built from the current lock: {', '.join(problems)}",
        hint=hint,
    )
