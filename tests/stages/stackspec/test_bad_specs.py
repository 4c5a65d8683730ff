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
    #: What the hint must say (``# hint:`` lines).
    hint_fragments: tuple[str, ...] = ()


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
    hints: list[str] = []
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
        elif key == "hint":
            hints.append(value)
    return Case(
        target.name,
        target,
        spec_file,
        path,
        named_file,
        tuple(fragments),
        tuple(patterns),
        tuple(hints),
    )


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
    # file:line: <TOML path>: <problem> (file:line:column for TOML syntax errors)
    located = re.match(rf"{re.escape(str(case.named_file))}(?::(\d+))?(?::\d+)?: ", message)
    assert located, f"the message does not start with the file to fix: {message}"
    if case.path != str(case.spec_file):
        assert message[located.end() :].startswith(f"{case.path}: "), message
        if case.path != "<top level>":
            assert located.group(1), f"no line for {case.path}: {message}"
            _assert_line_shows(case, int(located.group(1)))
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for pattern in case.patterns:
        assert re.search(pattern, message), f"{pattern!r} does not match {message!r}"
    assert "Spec(" not in message, "no dataclass reprs in messages"
    hint = info.value.hint
    assert hint and "\n" not in hint, "every spec error ends with a one-line hint"
    for fragment in case.hint_fragments:
        assert fragment in hint, f"{fragment!r} not in the hint {hint!r}"


def _assert_line_shows(case: Case, line: int) -> None:
    """The line named holds the path's last key, or (for an array item) the item itself."""
    text = case.named_file.read_bytes().decode("utf-8").splitlines()[line - 1]
    keys = [part for part in re.split(r"[.\[\]]+", case.path) if part and not part.isdigit()]
    if case.path.endswith("]") and not text.lstrip().startswith("[["):
        return  # an item of an inline array: its own line, which names no key
    assert any(key.strip('"') in text for key in keys[-1:]), (
        f"line {line} of {case.named_file} ({text!r}) does not show {case.path}"
    )
