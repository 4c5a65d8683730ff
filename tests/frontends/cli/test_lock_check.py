"""``envstacks lock --check`` (CI's lock check) and ``show``'s reasons for a stale lock.

They run on a copy of ``example_projects/hatch-app``, whose committed locks are real uv locks;
the check reads them as ``show`` does (uv never runs), so each case changes one input and
checks the verdict, the reasons and that nothing was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envstacks.frontends.cli import main

EXAMPLE = Path(__file__).parents[3] / "example_projects" / "hatch-app"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "hatch-app"
    shutil.copytree(EXAMPLE, root)
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in sorted(root.rglob("*"))
    }


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_valid_locks_exit_0_and_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(project)
    assert main(["lock", "--check", str(project)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["valid: cpython-3.12", "valid: framework-attrs", "valid: app-hello"]
    assert "3 locks valid" in err
    assert _snapshot(project) == before


def test_changed_requirements_exit_1_naming_each_stale_layer_and_why(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(project / "pyproject.toml", 'requirements = ["attrs>=24.2"]', 'requirements = ["attrs"]')
    before = _snapshot(project)
    assert main(["lock", "--check", str(project)]) == 1
    err = capsys.readouterr().err
    assert "error: 2 of 3 locks are missing or stale:\n" in err
    assert "  framework-attrs: requirements changed\n" in err
    assert "  app-hello: lower layer 'framework-attrs' needs locking\n" in err
    assert "hint: run `envstacks lock --if-needed` and commit the lock files" in err
    assert _snapshot(project) == before, "lock --check wrote something"


def test_missing_lock_and_changed_runtime_are_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements" / "app-hello" / "pylock.app-hello.toml").unlink()
    spec = project / "pyproject.toml"
    _edit(spec, 'python_implementation = "cpython@3.12"', 'python_implementation = "cpython@3.13"')
    assert main(["lock", "--locked", "--include", "app-*", str(project)]) == 1
    err = capsys.readouterr().err
    assert "cpython-3.12, framework-attrs: Python version, Linux/macOS target or lower" in err
    assert "app-hello: no lock file" in err
    assert "hint: run `envstacks lock --if-needed --include 'app-*'`" in err


def test_json_results_list_every_layer(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(project / "pyproject.toml", 'requirements = ["attrs>=24.2"]', 'requirements = ["attrs"]')
    assert main(["lock", "--check", "--json-results", str(project)]) == 1
    layers = json.loads(capsys.readouterr().out)
    assert layers == [
        {"name": "cpython-3.12", "valid": True, "problem": ""},
        {"name": "framework-attrs", "valid": False, "problem": "requirements changed"},
        {
            "name": "app-hello",
            "valid": False,
            "problem": "lower layer 'framework-attrs' needs locking",
        },
    ]


@pytest.mark.parametrize("option", ["--clean", "--reset-lock=app-hello"])
def test_check_refuses_options_that_write(
    project: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", "--check", option, str(project)]) == 1
    assert "lock --check writes nothing, so it cannot take" in capsys.readouterr().err


def test_show_says_why_a_lock_is_stale(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(project / "pyproject.toml", 'requirements = ["attrs>=24.2"]', 'requirements = ["attrs"]')
    assert main(["show", str(project)]) == 0
    out, err = capsys.readouterr()
    assert "*framework-attrs" in out and "requirements changed" not in out
    assert "  framework-attrs: requirements changed\n" in err
    assert "  app-hello: lower layer 'framework-attrs' needs locking\n" in err


def test_show_groups_layers_that_share_a_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project / "requirements")
    assert main(["show", str(project)]) == 0
    err = capsys.readouterr().err
    assert "  cpython-3.12, framework-attrs, app-hello: no lock file\n" in err
