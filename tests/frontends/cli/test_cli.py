"""The standalone CLI: exit statuses, error rendering, and `show` in both spec formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks import __version__
from envstacks.frontends.cli import main

SPECS = Path(__file__).parents[2] / "stages" / "stackspec" / "specs"
BAD = sorted(
    entry
    for entry in (SPECS / "bad").iterdir()
    if not entry.name.startswith("_") and (entry.suffix == ".toml" or entry.is_dir())
)
MINIMAL_FORMATS = {
    "venvstacks": SPECS / "good" / "minimal_project.toml",
    "pyproject": SPECS / "good" / "minimal_project" / "pyproject.toml",
}

#: venvstacks' EXPECTED_SHOW_RESULT for tests/minimal_project (reference §2.4), nothing locked.
EXPECTED_TREE = """\
├── Runtimes
│   └── *cpython-3.11
├── Frameworks
│   ├── *framework-layerA
│   │   └── *cpython-3.11
│   ├── *framework-layerB
│   │   ├── *framework-layerA
│   │   └── *cpython-3.11
│   ├── *framework-layerC
│   │   ├── *framework-layerA
│   │   └── *cpython-3.11
│   ├── *framework-layerD
│   │   ├── *framework-layerB
│   │   ├── *framework-layerC
│   │   ├── *framework-layerA
│   │   └── *cpython-3.11
│   ├── *framework-layerE
│   │   ├── *framework-layerB
│   │   ├── *framework-layerA
│   │   └── *cpython-3.11
│   └── *framework-layerF@1
│       ├── *framework-layerE
│       ├── *framework-layerB
│       ├── *framework-layerA
│       └── *cpython-3.11
└── Applications
    ├── *app-empty
    │   ├── *framework-layerD
    │   ├── *framework-layerF@1
    │   ├── *framework-layerE
    │   ├── *framework-layerB
    │   ├── *framework-layerC
    │   ├── *framework-layerA
    │   └── *cpython-3.11
    └── *app-no-framework
        └── *cpython-3.11
"""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"envstacks {__version__}"


def test_no_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: envstacks" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--no-such-option"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("envstacks ")


@pytest.mark.parametrize("spec_format", sorted(MINIMAL_FORMATS))
def test_show_tree_matches_venvstacks(spec_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = MINIMAL_FORMATS[spec_format]
    assert main(["show", str(spec)]) == 0
    out = capsys.readouterr().out
    first, _, rest = out.partition("\n")
    assert first == str(spec)
    assert rest == EXPECTED_TREE


def test_show_finds_the_spec_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "project" / "venvstacks.toml"
    (tmp_path / "project" / "src").mkdir(parents=True)
    spec.write_bytes(MINIMAL_FORMATS["venvstacks"].read_bytes())
    empty = MINIMAL_FORMATS["venvstacks"].parent / "empty.py"
    (tmp_path / "project" / "empty.py").write_bytes(empty.read_bytes())
    monkeypatch.chdir(tmp_path / "project" / "src")
    assert main(["show"]) == 0
    first, _, rest = capsys.readouterr().out.partition("\n")
    assert first == str(spec)
    assert rest == EXPECTED_TREE


@pytest.mark.parametrize("spec_format", sorted(MINIMAL_FORMATS))
def test_show_json_gives_c3_orders(spec_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--json", str(MINIMAL_FORMATS[spec_format])]) == 0
    status = json.loads(capsys.readouterr().out)
    deps = {
        layer["name"]: [d["name"] for d in layer["dependencies"]]
        for layer in status["frameworks"] + status["applications"]
    }
    assert deps["framework-layerD"] == [
        "framework-layerB",
        "framework-layerC",
        "framework-layerA",
        "cpython-3.11",
    ]  # the diamond
    assert deps["framework-layerF@1"] == [
        "framework-layerE",
        "framework-layerB",
        "framework-layerA",
        "cpython-3.11",
    ]  # three deep
    assert deps["app-empty"] == [
        "framework-layerD",
        "framework-layerF@1",
        "framework-layerE",
        "framework-layerB",
        "framework-layerC",
        "framework-layerA",
        "cpython-3.11",
    ]
    assert [a["name"] for a in status["applications"]] == ["app-empty", "app-no-framework"]
    layer_f = next(f for f in status["frameworks"] if f["name"] == "framework-layerF@1")
    assert layer_f["install_target"] == "framework-layerF@1"  # '@' in a name is not a version
    assert layer_f["has_valid_lock"] is False
    assert status["spec_name"] == str(MINIMAL_FORMATS[spec_format])


def test_show_include_uses_lock_selection(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["show", "--json", "--include", "*-layerC", str(MINIMAL_FORMATS["venvstacks"])]) == 0
    )
    status = json.loads(capsys.readouterr().out)
    assert [x["name"] for x in status["runtimes"]] == ["cpython-3.11"]
    assert [x["name"] for x in status["frameworks"]] == [
        "framework-layerA",
        "framework-layerC",
        "framework-layerD",
    ]
    assert [x["name"] for x in status["applications"]] == ["app-empty"]


def test_unmatched_include_exits_1_with_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--include", "app-nope", str(MINIMAL_FORMATS["venvstacks"])]) == 1
    err = capsys.readouterr().err
    assert "No matching layers found for: 'app-nope'" in err
    assert "--allow-missing" in err


@pytest.mark.parametrize("target", BAD, ids=[t.name for t in BAD])
def test_bad_spec_exits_1_with_one_paragraph(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert "\n\n" not in err.strip(), "one paragraph"
    _error, hint = err.splitlines()
    assert hint.startswith("hint: "), "the paragraph ends with a hint line, as docs/cli.md says"


def test_verbose_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v", "show", str(BAD[0])]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_bad_spec_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "venvstacks.toml"
    spec.write_text(
        '[[runtimes]]\nname = "rt"\npython_implementation = "cpython@3.12.1"\n'
        'requirements = []\n\n[[frameworks]]\nname = "fw"\nruntime = "rt-typo"\n'
        "requirements = []\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", "show", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: {spec}:8: frameworks[0].runtime: unknown runtime 'rt-typo'")
    assert hint.startswith("hint: name one of the defined runtimes")


@pytest.mark.parametrize(
    ("argv", "env", "colored"),
    [
        (["--color", "always"], {}, True),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # an explicit choice wins, as in uv
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        ([], {}, False),  # auto, and standard error is not a terminal here
    ],
)
def test_color_choice_colours_the_error_and_hint_prefixes(
    argv: list[str],
    env: dict[str, str],
    colored: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    target = SPECS / "bad" / "error_unknown_runtime.toml"
    assert main([*argv, "show", str(target)]) == 1
    error, hint = capsys.readouterr().err.splitlines()
    if colored:
        assert error.startswith("\x1b[1;31merror:\x1b[0m ")
        assert hint.startswith("\x1b[1;36mhint:\x1b[0m ")
    else:
        assert error.startswith("error: ") and hint.startswith("hint: ")
        assert "\x1b[" not in error + hint


def test_show_marks_versioned_layers_without_lock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(SPECS / "good" / "at_symbol.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "│   ├── *cpython@3.11" in lines or "    ├── *cpython@3.11" in lines
    assert any(line.endswith("*cpython@3.12 -> cpython@3.12@???") for line in lines)


def test_upper_case_repository_is_refused_saying_why_and_the_lowered_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push", str(tmp_path), "--to", "oci://ghcr.io/Acme/Stack:1"]) == 2
    err = capsys.readouterr().err
    assert "repository 'Acme/Stack' has upper-case letters" in err
    assert "; use the lower-case name: oci://ghcr.io/acme/stack:1" in err
    assert main(["deploy", "oci://ghcr.io/Acme/Stack:1", "--target", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert "hint: use the lower-case name: oci://ghcr.io/acme/stack:1" in err
    assert not (tmp_path / "t").exists()
