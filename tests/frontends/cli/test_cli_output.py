"""What the verbs print on a real stack: true, once, in the right number, with the next command.

A real stack (:mod:`kits.pure_stack`: a local CPython 3.12 runtime, a framework holding a wheel
made in the test and an application), locked offline, built, published, exported and deployed
by the CLI in this process; nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.frontends.cli import main
from kits.pure_stack import LAYERS, locked_stack


@pytest.fixture(scope="module")
def built(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> Path:
    """The stack's folder, locked (offline) and built."""
    python_for("3.12")
    root = locked_stack(tmp_path_factory.mktemp("output"), kit)
    assert main(["-q", "build", str(root)]) == 0
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[str], list[str]]:
    """Run the CLI (status 0); its stdout and stderr lines."""
    capsys.readouterr()
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    return out.splitlines(), err.splitlines()


def test_lock_lines_name_each_layer_once_and_count_in_words(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--no-index", "--local-wheels", "wheels", "--include", "framework-pure"]
    out, err = _run(capsys, "lock", *argv, str(built))
    assert out[0].startswith("valid: cpython-3.12 (locked at ")  # no second name
    assert out[1].startswith("checked: framework-pure (locked at ")
    assert "framework-pure: lock unchanged: 1 package" in err  # not "1 packages"
    assert err[-1] == "next: envstacks build --include framework-pure"
    out, err = _run(capsys, "lock", "--if-needed", str(built))
    assert [line.partition(" (")[0] for line in out] == [f"valid: {name}" for name in LAYERS]
    assert all(" (locked at " in line for line in out)
    assert err[-1] == "next: envstacks build"
    # No next command where only the results were asked for.
    _, err = _run(capsys, "lock", "--if-needed", "--json-results", str(built))
    assert not [line for line in err if line.startswith("next:")]


def test_show_marks_up_to_date_builds_as_the_run_then_reports_them(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = _run(capsys, "build", "--show", str(built))
    tree = [line for line in out if "(" in line]
    for name in LAYERS:
        assert any(line.endswith(f"{name} (up to date, publish)") for line in tree), out
    assert f"up to date: {LAYERS[0]} ({built / '_build' / LAYERS[0]})" in out
    assert any(line.endswith(": 3 layers up to date; 3 archives would be written") for line in err)
    assert err[-1] == "next: envstacks publish"
    # A clean build rebuilds: --show says build.
    out, _ = _run(capsys, "build", "--clean", "--show-only", str(built))
    assert any(line.endswith("app-hello (build, publish)") for line in out), out


def test_publish_dry_run_summarises_names_the_folder_and_what_comes_next(
    built: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(built)
    out, err = _run(capsys, "publish", "--dry-run", ".")
    assert out == [f"would publish: {name}.tar.zst" for name in LAYERS] + [
        "compression: zstd level 10"
    ]
    assert err[-1] == "next: envstacks publish"
    # The full metadata with -v, or as JSON.
    out, _ = _run(capsys, "publish", "--dry-run", "-v", ".")
    assert '  "archive_name": "app-hello.tar.zst",' in out
    out, _ = _run(capsys, "publish", "--dry-run", "--json-results", ".")
    assert json.loads("\n".join(out))["layers"][0]["metadata"]["layer_name"] == LAYERS[0]

    out, err = _run(capsys, "publish", ".")
    assert out[-1] == "manifest: __venvstacks__/venvstacks.json"
    assert err[-2].endswith(": 3 archives written in dist/venvstacks"), err
    assert err[-1] == (
        "next: envstacks deploy dist/venvstacks --target DIR, "
        "or envstacks push dist/venvstacks --to oci://HOST/REPO:TAG"
    )

    # A deploy from the folder fetches nothing, and does not say it does.
    _, err = _run(capsys, "deploy", "dist/venvstacks", "--target", "deployed")
    assert not [line for line in err if "fetch" in line], err
    assert any(line.startswith(f"{LAYERS[0]}: unpack") for line in err), err


def test_local_export_names_each_folder_once(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = _run(capsys, "local-export", str(built))
    for name in LAYERS:
        folder = str(built / "_export" / name)
        assert [line for line in out + err if folder in line] == [f"exported: {folder}"]
