"""Requirement spellings and comparisons, and a wheel's Requires-Dist read with packaging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envstacks.stages.locking.project_dist import wheel_requires_dist
from envstacks.stages.locking.requirements import (
    canonical,
    clean_requirements,
    normalized,
    requirement_name,
    same_requirements,
)


def test_canonical_spelling_keeps_what_does_not_parse() -> None:
    assert canonical("Six >= 1.0 ;python_version>='3'") == 'Six>=1.0; python_version >= "3"'
    assert canonical("not a requirement ===") == "not a requirement ==="
    assert requirement_name("My_Proj[x]>=1") == "my-proj"
    assert requirement_name("???") is None


def test_lists_compare_whatever_their_order_spelling_and_duplicates() -> None:
    assert normalized(["six", "idna >= 2", "six"]) == ("idna>=2", "six")
    assert same_requirements(["six", "idna>=2"], ["idna >=2", "six", "six"])
    assert not same_requirements(["six"], ["six>=1"])
    with_extra = ["six", "pytest; extra == 'test'"]
    assert not same_requirements(with_extra, ["six"])
    assert same_requirements(with_extra, ["six"], without_extras=True)


def test_clean_requirements_as_venvstacks_hashes_them() -> None:
    lines = ["b  # why", "", "a; python_version >= '3.8'", "c --hash=sha256:00", "# note"]
    # packaging's spelling, double quotes and all, as venvstacks 0.8 hashes `str(Requirement)`
    assert clean_requirements(lines) == ['a; python_version >= "3.8"', "b"]


def test_wheel_requires_dist_is_read_and_normalised(stacks: Any, tmp_path: Path) -> None:
    wheel = stacks.make_wheel(
        tmp_path, "my_proj", "1.0", ["six >=1", 'idna; python_version >= "3"']
    )
    assert wheel_requires_dist(wheel) == ("six>=1", 'idna; python_version >= "3"')
    assert wheel_requires_dist(stacks.make_wheel(tmp_path / "none", "bare", "1.0")) == ()
