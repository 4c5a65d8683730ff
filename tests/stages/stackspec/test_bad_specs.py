"""Every bad spec in ``specs/bad`` fails with the message its header announces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import load

BAD = Path(__file__).parent / "specs" / "bad"


@dataclass(frozen=True)
class Case:
    name: str
    target: Path
    spec_file: Path
    path: str | None
    #: The file the message must name (the spec, or a file it reads such as venvstacks.uv.toml).
    named_file: Path
    fragments: tuple[str, ...]
    patterns: tuple[str, ...]


def _spec_file(target: Path) -> Path:
    if target.is_file():
        return target
    for name in ("pyproject.toml", "venvstacks.toml"):
        if (target / name).is_file():
            return target / name
    raise AssertionError(f"{target} holds no spec file")


def _case(target: Path) -> Case:
    spec_file = _spec_file(target)
    path = None
    named_file = spec_file
    fragments: list[str] = []
    patterns: list[str] = []
    for line in spec_file.read_bytes().decode("utf-8", "replace").splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(": ")
        if key == "path":
            path = value.replace("{spec}", str(spec_file))
        elif key == "file":
            named_file = spec_file.parent / value
        elif key == "error":
            fragments.append(value)
        elif key == "error-re":
            patterns.append(value)
    return Case(target.name, target, spec_file, path, named_file, tuple(fragments), tuple(patterns))


def _cases() -> list[Case]:
    targets = [
        entry
        for entry in sorted(BAD.iterdir())
        if not entry.name.startswith("_") and (entry.suffix == ".toml" or entry.is_dir())
    ]
    return [_case(target) for target in targets]


CASES = _cases()


def test_corpus_is_large_and_covers_both_formats() -> None:
    pyproject = [case for case in CASES if case.spec_file.name == "pyproject.toml"]
    venvstacks = [case for case in CASES if case.spec_file.name != "pyproject.toml"]
    assert len(CASES) >= 40
    assert len(pyproject) >= 30
    assert len(venvstacks) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_bad_spec_states_its_expectation(case: Case) -> None:
    assert case.fragments or case.patterns, f"{case.spec_file} has no '# error:' line"
    assert case.path, f"{case.spec_file} has no '# path:' line"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_spec_fails_with_expected_message(case: Case) -> None:
    with pytest.raises(SpecError) as info:
        load(case.target)
    message = str(info.value)
    assert "\n" not in message, "a spec error is one paragraph"
    assert case.path is not None
    assert message.startswith(f"{case.path}: "), message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for pattern in case.patterns:
        assert re.search(pattern, message), f"{pattern!r} does not match {message!r}"
    assert str(case.named_file) in message, "the message names the file to fix"
    assert "Spec(" not in message, "no dataclass reprs in messages"
