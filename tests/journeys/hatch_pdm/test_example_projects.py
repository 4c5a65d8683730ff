"""The front-end examples (``example_projects/hatch-app``, ``pdm-app``) stay buildable as committed.

Their locks are committed, so a user's first ``hatch build -t venvstacks`` or ``pdm
venvstacks build --lock-if-needed`` builds from them without relocking. Checking that every
lock is still valid needs no uv and no network; the full build of the same shapes of
project is ``test_hatch_e2e.py`` and ``test_pdm_e2e.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.stages import stackspec as spec
from envstacks.stages.locking import lock_states

EXAMPLES = Path(__file__).parents[3] / "example_projects"


@pytest.mark.parametrize(
    ("example", "package"), [("hatch-app", "hatch_app"), ("pdm-app", "pdm_app")]
)
def test_example_ships_itself_from_valid_committed_locks(example: str, package: str) -> None:
    stack = spec.load(EXAMPLES / example)
    (app,) = stack.applications
    assert app.run_module == package
    assert stack.project_name in app.requirements
    states = lock_states(stack)
    stale = {name: state.reasons for name, state in states.items() if not state.has_valid_lock}
    assert not stale, f"relock {example}: {stale}"
    assert set(states) == {layer.build_name for layer in stack.layers}
