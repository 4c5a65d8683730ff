"""The ``venvstacks`` build target in-process: its options, its error display and its clean-up.

The builder class is driven directly, as hatchling does inside the build environment; no
stack is built here (the end-to-end run is in ``test_hatch_e2e.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import SpecError
from envstacks.frontends.integrations.hatch_plugins.build_target import VenvstacksBuilder

PROJECTS = Path(__file__).parents[3] / "projects"
TARGET = "tool.hatch.build.targets.venvstacks"


@pytest.fixture
def make_builder(tmp_path: Path) -> Callable[..., VenvstacksBuilder]:
    """A builder for a copy of ``stackapp`` whose target table is replaced by ``options``."""

    def _make(**options: Any) -> VenvstacksBuilder:
        text = (PROJECTS / "stackapp" / "pyproject.toml").read_text(encoding="utf-8")
        lines = [f"{key} = {json.dumps(value)}" for key, value in options.items()]
        text = text.replace('dependencies = ["envstacks"]', "\n".join(lines))
        (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
        return VenvstacksBuilder(str(tmp_path))

    return _make


def test_defaults(make_builder: Callable[..., VenvstacksBuilder], tmp_path: Path) -> None:
    config = make_builder().config
    assert config.layers == ()
    assert config.archive_format is None
    assert config.compression is None
    assert config.tag_outputs is False
    assert config.lock_policy == "if-needed"
    assert config.export_directory is None
    # Without a target `directory`, archives go to the stack's output-dir, not dist/.
    assert Path(config.directory) == tmp_path / "dist" / "venvstacks"


def test_options_are_read(make_builder: Callable[..., VenvstacksBuilder], tmp_path: Path) -> None:
    config = make_builder(
        **{
            "include": ["app-*"],
            "archive-format": "tar.xz",
            "compression": 9,
            "tag-outputs": True,
            "lock": "check",
            "export-directory": "exported",
            "directory": "out",
        }
    ).config
    assert config.layers == ("app-*",)
    assert config.archive_format == "tar.xz"
    assert config.compression == "9"
    assert config.tag_outputs is True
    assert config.lock_policy == "check"
    assert config.export_directory == tmp_path / "exported"
    assert Path(config.directory) == tmp_path / "out"


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("include", "app-*", "layers", "must be an array of strings (got 'app-*')"),
        ("include", ["app-*", 3], "layers", "must be an array of strings (got ['app-*', 3])"),
        ("archive-format", 7, "archive_format", "must be a string (got 7)"),
        ("compression", "huge", "compression", 'must be "fast", "default", "max" or a level'),
        ("compression", True, "compression", 'must be "fast", "default", "max" or a level'),
        ("tag-outputs", "yes", "tag_outputs", "must be a boolean (got 'yes')"),
        ("lock", "sometimes", "lock_policy", 'must be either "if-needed" or "check"'),
        ("export-directory", ["x"], "export_directory", "must be a string (got ['x'])"),
    ],
)
def test_bad_options_name_the_field(
    make_builder: Callable[..., VenvstacksBuilder],
    key: str,
    value: Any,
    attribute: str,
    expected: str,
) -> None:
    config = make_builder(**{key: value}).config
    with pytest.raises(SpecError) as info:
        getattr(config, attribute)
    assert info.value.message.startswith(f"Field `{TARGET}.{key}` {expected}")
    assert info.value.hint is not None and info.value.hint.startswith(f"write it like {key} = ")


def test_errors_end_the_build_with_a_message_not_a_traceback(
    make_builder: Callable[..., VenvstacksBuilder], capsys: pytest.CaptureFixture[str]
) -> None:
    builder = make_builder(include="app-*")
    with pytest.raises(SystemExit) as info:
        list(builder.build(versions=["standard"]))
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"error: Field `{TARGET}.include` must be an array of strings" in err
    assert "hint: write it like include = " in err
    assert "Traceback" not in err


def test_unmatched_include_hints_the_targets_own_option(
    make_builder: Callable[..., VenvstacksBuilder], capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's hint names --allow-missing; the target has no such option, so it says include."""
    builder = make_builder(include=["app-nope"])
    with pytest.raises(SystemExit) as info:
        list(builder.build(versions=["standard"]))
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"error: {TARGET}.include: No matching layers found for: 'app-nope'" in err
    assert "hint: check the patterns against `envstacks show`" in err
    assert "correct the target's include option" in err
    assert "--allow-missing" not in err


def test_hatchling_cli_reports_a_bad_stack(tmp_path: Path) -> None:
    """``python -m hatchling build -t venvstacks`` (what Hatch runs) on a broken stack: exit 1."""
    text = (PROJECTS / "stackapp" / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        text.replace('runtime = "cpython-3.12"', 'runtime = "cpython-3.99"'), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "venvstacks"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "tool.venvstacks.frameworks[0].runtime" in result.stderr
    assert "cpython-3.99" in result.stderr
    assert "Traceback" not in result.stderr


def test_clean_removes_only_what_the_manifest_names(
    make_builder: Callable[..., VenvstacksBuilder], tmp_path: Path
) -> None:
    out = tmp_path / "dist" / "venvstacks"
    metadata = out / "__venvstacks__"
    (metadata / "env_metadata").mkdir(parents=True)
    layers = {}
    for kind, name in (("runtimes", "cpython-3.12"), ("applications", "app-hello")):
        archive = out / f"{name}.tar.zst"
        archive.write_bytes(b"archive")
        layers[kind] = [
            {
                "layer_name": name,
                "install_target": name,
                "archive_name": archive.name,
                "archive_size": 7,
                "archive_hashes": {"sha256": "0" * 64},
                "runtime_layer": "cpython-3.12",
                "required_layers": [],
            }
        ]
    (metadata / "venvstacks.json").write_text(json.dumps({"layers": layers}), encoding="utf-8")
    (out / "stackapp-0.1.0-py3-none-any.whl").write_bytes(b"a wheel")
    (out / "framework-other.tar.zst").write_bytes(b"not in the manifest")

    builder = make_builder()
    list(builder.build(versions=["standard"], clean_only=True))
    assert sorted(p.name for p in out.iterdir()) == [
        "framework-other.tar.zst",
        "stackapp-0.1.0-py3-none-any.whl",
    ]
