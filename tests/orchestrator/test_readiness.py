"""Publishing or exporting before building: one error naming every layer, one command to fix it.

A real stack (a local CPython 3.12 runtime, a framework and an application holding wheels
made in the test), locked offline with ``--local-wheels``; nothing is mocked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.frontends.cli import main
from kits.pure_stack import locked_stack


@pytest.fixture(scope="module")
def locked(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> Path:
    """The stack's folder, locked (offline), nothing built."""
    python_for("3.12")
    return locked_stack(tmp_path_factory.mktemp("readiness"), kit)


def _error(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    err = capsys.readouterr().err
    message = next(line for line in err.splitlines() if line.startswith("error: "))
    hint = next(line for line in err.splitlines() if line.startswith("hint: "))
    return message, hint


def test_publish_before_build_names_every_layer_and_one_command(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", str(locked)]) == 1
    message, hint = _error(capsys)
    assert message == (
        "error: cannot publish: 3 of the selected layers are not built from the current lock: "
        "cpython-3.12 (not built), framework-pure (not built), app-hello (not built)"
    )
    assert hint == (
        "hint: build them all first: `envstacks build`; "
        "or build and publish in one go: `envstacks build --publish`"
    )


def test_the_hint_keeps_the_selection_and_names_what_is_left(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "build", "--include", "cpython-3.12", str(locked)]) == 0
    argv = ["publish", "--include", "app-*", "--publish-dependencies", str(locked)]
    assert main(argv) == 1
    message, hint = _error(capsys)
    assert message == (
        "error: cannot publish: 2 of the selected layers are not built from the current lock: "
        "framework-pure (not built), app-hello (not built)"
    )
    assert "`envstacks build --include 'app-*' --publish`" in hint
    # Following the hint publishes everything: no next error.
    capsys.readouterr()
    assert main(["-q", "build", "--include", "app-*", "--publish", str(locked)]) == 0
    assert capsys.readouterr() == ("", "")  # -q: nothing at all on success
    assert main(argv) == 0


def _fresh_copy(locked: Path, fresh: Path) -> Path:
    """The locked stack's files in ``fresh``, with no build folder."""
    fresh.mkdir()
    shutil.copytree(locked / "requirements", fresh / "requirements")
    for name in ("pyproject.toml", "hello.py"):
        shutil.copy2(locked / name, fresh / name)
    return fresh


def test_publish_before_any_build_makes_no_folder(
    locked: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _fresh_copy(locked, tmp_path / "fresh")
    before = sorted(path.name for path in fresh.iterdir())
    assert main(["publish", str(fresh)]) == 1
    assert "cannot publish: 3 of the selected layers" in _error(capsys)[0]
    assert sorted(path.name for path in fresh.iterdir()) == before  # no _build, no dist


def test_export_before_build_says_the_same(
    locked: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _fresh_copy(locked, tmp_path / "fresh")  # the locked stack, never built
    assert main(["local-export", "--include", "app-hello", str(fresh)]) == 1
    message, hint = _error(capsys)
    assert message == (
        "error: cannot export: 1 of the selected layers is not built from the current lock: "
        "app-hello (not built)"
    )
    assert hint == (
        "hint: build them all first: `envstacks build --include app-hello`, "
        "then run local-export again"
    )
    assert not (fresh / "_build").exists() and not (fresh / "export").exists()
