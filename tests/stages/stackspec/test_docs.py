"""docs/configuration.md documents exactly the keys the loader accepts.

The accepted keys are found by asking the loader: each candidate key (documented, or listed in
the code's key tables) is put into a small valid spec with a value no key accepts, and the key
counts as accepted unless the loader reports it as unknown. So neither the docs nor the code's
key tables can drift from what loading really does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import (
    INDEX_KEYS,
    LAYER_KEYS,
    SETTINGS_KEYS,
    UV_KEYS,
    LayerKind,
    load,
)
from envstacks.stages.stackspec.keys import LEGACY_LAYER_KEYS, VENVSTACKS_TOP_LEVEL_KEYS

DOC = Path(__file__).parents[3] / "docs" / "configuration.md"
#: A TOML value of a type no key accepts (a local date), so probing never succeeds by accident.
SENTINEL = "1979-05-27"

RUNTIME = '[[runtimes]]\nname = "rt"\npython_implementation = "cpython@3.12"\nrequirements = []\n'
#: The layer probed last in a valid spec (what comes before it stays untouched).
LAYER_TABLES = {
    LayerKind.RUNTIME: ("", RUNTIME),
    LayerKind.FRAMEWORK: (
        RUNTIME,
        '[[frameworks]]\nname = "fw"\nruntime = "rt"\nrequirements = []\n',
    ),
    LayerKind.APPLICATION: (
        RUNTIME,
        '[[applications]]\nname = "app"\nrun_module = "app"\nruntime = "rt"\nrequirements = []\n',
    ),
}


def _sections() -> dict[str, set[str]]:
    """Backticked keys in the first column of the table rows under each heading."""
    sections: dict[str, set[str]] = {}
    current: set[str] = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("#").strip(), set())
            continue
        match = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        if match:
            current.add(match.group(1))
    return sections


SECTIONS = _sections()


def _load_text(tmp_path: Path, name: str, text: str) -> tuple[str | None, tuple[str, ...]]:
    folder = tmp_path / f"probe{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    try:
        return None, load(folder / name).warnings
    except SpecError as error:
        return str(error), ()


def _layer_key_accepted(tmp_path: Path, kind: LayerKind, key: str) -> bool:
    before, layer = LAYER_TABLES[kind]
    lines = [line for line in layer.splitlines() if not line.startswith(f"{key} =")]
    text = before + "\n".join([*lines, f"{key} = {SENTINEL}"]) + "\n"
    error, _ = _load_text(tmp_path, "venvstacks.toml", text)
    return error is None or f"layer key {key!r}" not in error


def _setting_accepted(tmp_path: Path, key: str) -> bool:
    text = f"[tool.venvstacks]\n{key} = {SENTINEL}\n" + RUNTIME.replace(
        "[[runtimes]]", "[[tool.venvstacks.runtimes]]"
    )
    error, _ = _load_text(tmp_path, "pyproject.toml", text)
    return error is None or "unknown [tool.venvstacks] key" not in error


def _top_level_accepted(tmp_path: Path, key: str) -> bool:
    error, _ = _load_text(tmp_path, "venvstacks.toml", f"{key} = {SENTINEL}\n" + RUNTIME)
    return error is None or "unknown top-level key" not in error


def _uv_key_known(tmp_path: Path, key: str) -> bool:
    error, warnings = _load_text(
        tmp_path, "venvstacks.toml", RUNTIME + f"[tool.uv]\n{key} = {SENTINEL}\n"
    )
    return error is not None or not any("unknown uv setting" in w for w in warnings)


def _index_key_known(tmp_path: Path, key: str) -> bool:
    entry = {"name": '"a"', "url": '"https://a.invalid"'}
    entry[key] = SENTINEL
    body = "".join(f"{k} = {v}\n" for k, v in entry.items())
    error, warnings = _load_text(
        tmp_path, "venvstacks.toml", RUNTIME + "[[tool.uv.index]]\n" + body
    )
    return error is not None or not any("unknown uv index key" in w for w in warnings)


def _documented(*headings: str) -> set[str]:
    keys: set[str] = set()
    for heading in headings:
        assert heading in SECTIONS, f"docs/configuration.md lost its section {heading!r}"
        keys |= SECTIONS[heading]
    return keys


@pytest.mark.parametrize("kind", list(LayerKind), ids=[kind.value for kind in LayerKind])
def test_layer_keys_documented_exactly(tmp_path: Path, kind: LayerKind) -> None:
    headings = {
        LayerKind.RUNTIME: ("Keys of every layer", "Runtime keys", "Legacy keys"),
        LayerKind.FRAMEWORK: (
            "Keys of every layer",
            "Framework and application keys",
            "Framework keys",
            "Legacy keys",
        ),
        LayerKind.APPLICATION: (
            "Keys of every layer",
            "Framework and application keys",
            "Application keys",
            "Legacy keys",
        ),
    }[kind]
    documented = _documented(*headings)
    # Legacy keys are documented in one table for all kinds; keep those this kind takes.
    documented -= {k for k, (kinds, _) in LEGACY_LAYER_KEYS.items() if kind not in kinds}
    candidates = documented | {key.name for key in LAYER_KEYS} | set(LEGACY_LAYER_KEYS)
    accepted = {key for key in candidates if _layer_key_accepted(tmp_path, kind, key)}
    assert accepted == documented
    assert not _layer_key_accepted(tmp_path, kind, "no_such_key"), "the probe can fail"


def test_settings_documented_exactly(tmp_path: Path) -> None:
    documented = _documented("Settings: `[tool.venvstacks]`")
    candidates = documented | set(SETTINGS_KEYS)
    assert {key for key in candidates if _setting_accepted(tmp_path, key)} == documented
    assert not _setting_accepted(tmp_path, "no-such-setting")


def test_top_level_keys_documented_exactly(tmp_path: Path) -> None:
    documented = _documented("`venvstacks.toml` format")
    candidates = documented | set(VENVSTACKS_TOP_LEVEL_KEYS) | {"framework"}
    assert {key for key in candidates if _top_level_accepted(tmp_path, key)} == documented


def test_uv_keys_read_by_envstacks_are_documented(tmp_path: Path) -> None:
    documented = _documented("Baseline uv settings: `[tool.venvstacks.uv]`")
    assert documented == set(UV_KEYS)
    assert all(_uv_key_known(tmp_path, key) for key in documented)
    assert not _uv_key_known(tmp_path, "no-such-uv-setting")


def test_index_keys_documented(tmp_path: Path) -> None:
    documented = _documented("Index tables")
    assert documented == set(INDEX_KEYS)
    assert all(_index_key_known(tmp_path, key) for key in documented)
    assert not _index_key_known(tmp_path, "no-such-index-key")


def test_documented_defaults_match_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    for key in SETTINGS_KEYS.values():
        assert f"| `{key.name}` | {key.type} | `{key.default}` |" in text, key.name
