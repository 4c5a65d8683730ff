"""venvstacks' minimal project through envstacks' CLI: what needs no lock or build.

``show`` prints venvstacks' tree (``EXPECTED_SHOW_RESULT`` and ``EXPECTED_SHOW_LAYER_C_RESULT``,
read from upstream's ``test_minimal_project.py``), and build and output folders resolve as
``TestMinimalBuildConfig`` expects: relative to the spec's folder, ``~`` expanded, absolute
paths kept. Locking, building and publishing the project are journeys
(``tests/journeys/compat``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envstacks.frontends.cli import main
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.session import Session
from kits import upstream


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of venvstacks' minimal project (nothing locked)."""
    tests = upstream.copy_tests_folder(tmp_path_factory.mktemp("upstream"), ["minimal_project"])
    return tests / "minimal_project" / "venvstacks.toml"


@pytest.mark.parametrize(
    ("options", "expected"),
    [((), "EXPECTED_SHOW_RESULT"), (("--include", "*-layerC"), "EXPECTED_SHOW_LAYER_C_RESULT")],
)
def test_show_prints_venvstacks_tree(
    minimal: Path, options: tuple[str, ...], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = upstream.module_value(
        "test_minimal_project.py", expected, {"MINIMAL_PROJECT_STACK_SPEC_PATH": minimal}
    )
    assert main(["-q", "show", *options, str(minimal)]) == 0
    assert capsys.readouterr().out == tree


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Session]:
    """The sessions commands open (their runs are not this test's subject: nothing runs)."""
    sessions: list[Session] = []

    def record(session: Session, request: Any, plan: Any = None) -> pipeline.StackResult:
        sessions.append(session)
        return pipeline.StackResult(plan=plan or session.plan(request.plan))

    monkeypatch.setattr(pipeline, "run", record)
    return sessions


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("custom", lambda spec_dir: spec_dir / "custom"),
        ("~/custom", lambda spec_dir: Path.home() / "custom"),
        ("/absolute/custom", lambda spec_dir: Path("/absolute/custom")),
        ("../custom/./deeper/..", lambda spec_dir: spec_dir.parent / "custom"),
    ],
    ids=["relative", "user", "absolute", "dotted"],
)
@pytest.mark.parametrize(
    "case",
    [
        ("lock", "--build-dir", "build_dir"),
        ("build", "--output-dir", "output_dir"),
        ("publish", "--output-dir", "output_dir"),
        ("local-export", "--output-dir", "export_dir"),
    ],
    ids=lambda case: f"{case[0]} {case[1]}",
)
def test_folders_resolve_as_venvstacks_resolves_them(
    minimal: Path, recorded: list[Session], case: tuple[str, str, str], given: str, expected: Any
) -> None:
    command, option, setting = case
    assert main(["-q", command, option, given, str(minimal)]) == 0
    (session,) = recorded
    assert getattr(session.spec.settings, setting) == expected(minimal.parent)
