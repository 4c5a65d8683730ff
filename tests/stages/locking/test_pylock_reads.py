"""A lock file is parsed once per process while its text stays the same (build reads it again)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envstacks.floor.errors import LockError
from envstacks.stages.locking.pylock import load_pylock

LOCK = 'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = "{python}"\npackages = []\n'


def test_an_unchanged_lock_is_parsed_once_and_a_changed_one_again(tmp_path: Path) -> None:
    path = tmp_path / "pylock.app.toml"
    path.write_text(LOCK.format(python=">=3.12"), encoding="utf-8")
    first = load_pylock(path, layer="app")
    assert load_pylock(path, layer="app") is first
    # As the lock step replaces it: a new file renamed over the old one.
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(LOCK.format(python=">=3.13"), encoding="utf-8")
    os.replace(fresh, path)
    again = load_pylock(path, layer="app")
    assert again is not first
    assert (first.requires_python, again.requires_python) == (">=3.12", ">=3.13")
    # Edited in place, the same size, at once (within the file system's time resolution).
    path.write_text(LOCK.format(python=">=3.14"), encoding="utf-8")
    assert load_pylock(path, layer="app").requires_python == ">=3.14"
    path.unlink()
    with pytest.raises(LockError, match="layer 'app' has no lock file"):
        load_pylock(path, layer="app")
