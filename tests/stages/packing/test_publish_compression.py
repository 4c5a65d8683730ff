"""Publishing at a compression: reported, recorded when not the default, republished on change."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import load

from .conftest import Stack

MAX = "zstd level 22, 128 MiB long window"


def test_the_compression_is_reported_recorded_and_a_change_republishes(stack: Stack) -> None:
    first = stack.publish()
    assert first.compression == "zstd level 10"
    assert "compression: zstd level 10" in first.describe()
    assert not any("archive_compression" in item.metadata for item in first.layers)

    released = stack.publish(compression="max")
    assert released.compression == MAX
    assert [item.status for item in released.layers] == ["published"] * 3
    assert [item.metadata["archive_compression"] for item in released.layers] == [MAX] * 3
    assert [item.metadata["archive_build"] for item in released.layers] == [2] * 3
    assert [item.metadata["tree_hashes"] for item in released.layers] == [
        item.metadata["tree_hashes"] for item in first.layers
    ]  # the same layers: only the archive bytes differ
    manifest_entries = [
        entry for entries in released.manifest["layers"].values() for entry in entries
    ]
    assert {entry["archive_compression"] for entry in manifest_entries} == {MAX}

    again = stack.publish(compression="max")
    assert [item.status for item in again.layers] == ["unchanged"] * 3
    assert not any(line.startswith("compression:") for line in again.describe())

    back = stack.publish(compression="10")  # the default level, named by its number
    assert [item.status for item in back.layers] == ["published"] * 3
    assert [item.metadata["archive_hashes"] for item in back.layers] == [
        item.metadata["archive_hashes"] for item in first.layers
    ]  # reproducible for a given level
    assert not any("archive_compression" in item.metadata for item in back.layers)


def test_a_compression_the_format_lacks_is_refused_before_anything_is_written(
    stack: Stack,
) -> None:
    with pytest.raises(SpecError, match=r"^compression: '12' is not a compression of tar.xz"):
        stack.publish(format_name="tar.xz", compression="12")
    assert not stack.spec.settings.output_dir.exists()
    assert stack.staged == []


def _spec(tmp_path: Path, value: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\n\n[tool.venvstacks]\n'
        f'compression = {value}\n\n[[tool.venvstacks.runtimes]]\nname = "rt"\n'
        'python_implementation = "cpython@3.12"\nrequirements = []\n'
    )
    return project / "pyproject.toml"


@pytest.mark.parametrize(
    ("value", "expected"), [('"max"', "max"), ("19", "19"), ('"fast"', "fast")]
)
def test_the_setting_is_read(tmp_path: Path, value: str, expected: str) -> None:
    assert load(_spec(tmp_path, value)).settings.compression == expected


@pytest.mark.parametrize("value", ['"huge"', "true", "-1", "1.5"])
def test_a_bad_setting_names_the_key_and_the_fix(tmp_path: Path, value: str) -> None:
    with pytest.raises(SpecError) as caught:
        load(_spec(tmp_path, value))
    assert "tool.venvstacks.compression" in str(caught.value)
    assert "is not a compression" in str(caught.value)
    assert 'write it like compression = "max"' in (caught.value.hint or "")


def test_the_setting_is_used_when_publish_is_not_told(stack: Stack, tmp_path: Path) -> None:
    text = stack.spec.spec_path.read_text()
    stack.spec.spec_path.write_text(
        text.replace('output-dir = "dist"', 'output-dir = "dist"\ncompression = 23')
    )
    stack.spec = load(stack.spec.spec_path)
    with pytest.raises(SpecError, match=r"^tool.venvstacks.compression: '23' is not a compression"):
        stack.publish()
