"""venvstacks' committed locks (sample project, example stacks) are valid for envstacks as they are.

Every layer lock venvstacks 0.8 committed must check as valid (its four hashes recomputed from
the spec, the lock file and the module files match), so envstacks builds from it without
relocking; and the files envstacks writes beside a lock say what venvstacks' say, so that
relocking with nothing changed rewrites none of them (only their first comment lines name
the tool that wrote them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.stages.locking import lock_states, read_lock
from envstacks.stages.locking.package_list import requirements_in_text, summary_text
from envstacks.stages.stackspec import load, stack_paths
from kits import upstream


def _stacks() -> list[object]:
    if not (upstream.UPSTREAM / "tests").is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {upstream.UPSTREAM}"))]
    specs = [upstream.UPSTREAM / "tests" / "sample_project" / "venvstacks.toml"]
    specs += sorted((upstream.UPSTREAM / "examples").glob("*/venvstacks.toml"))
    return [pytest.param(path, id=path.parent.name) for path in specs]


def _below_header(path: Path) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return lines[start:]


def _as_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return lines[start:]


@pytest.mark.parametrize("spec_path", _stacks())
def test_every_committed_lock_is_valid(spec_path: Path) -> None:
    spec = load(spec_path)
    states = lock_states(spec)
    assert len(states) == len(spec.enabled_layers) > 0
    invalid = {name: state.reasons for name, state in states.items() if not state.has_valid_lock}
    assert not invalid


@pytest.mark.parametrize("spec_path", _stacks())
def test_the_files_beside_each_lock_say_what_venvstacks_wrote(spec_path: Path) -> None:
    spec = load(spec_path)
    for layer in spec.enabled_layers:
        locked = read_lock(spec, layer)
        summary = stack_paths.summary_path(spec, layer)
        assert _below_header(summary) == _as_lines(summary_text(locked)), summary
        declared = stack_paths.requirements_in_path(spec, layer)
        assert _below_header(declared) == _as_lines(requirements_in_text(layer)), declared
