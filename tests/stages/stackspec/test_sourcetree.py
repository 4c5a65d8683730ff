"""Launch and support module listing: the source filter (git ignores, __pycache__, .git*)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from envstacks.stages.stackspec.sourcetree import git_work_tree, module_files, module_hash


def _tree(root: Path) -> Path:
    package = root / "app"
    for relative, text in {
        "__main__.py": "print('hi')\n",
        "core.py": "x = 1\n",
        "debug.log": "noise\n",
        "build/generated.py": "g = 1\n",
        "sub/helper.py": "h = 1\n",
        "sub/notes.log": "noise\n",
        "__pycache__/core.cpython-312.pyc": "bytecode",
        ".gitattributes": "* text\n",
    }.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def _names(package: Path) -> list[str]:
    return [p.relative_to(package).as_posix() for p in module_files(package)]


def test_outside_git_only_pycache_and_git_files_are_skipped(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    assert git_work_tree(package) is None
    assert _names(package) == [
        "__main__.py", "core.py", "debug.log", "build/generated.py", "sub/helper.py",
        "sub/notes.log",
    ]  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_inside_git_ignored_files_and_folders_are_skipped(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    package = _tree(tmp_path)
    before = module_hash(package)
    assert git_work_tree(package) == tmp_path
    assert _names(package) == ["__main__.py", "core.py", "sub/helper.py"]
    # Ignored files do not change the hash; kept files do.
    (package / "sub" / "notes.log").write_text("more noise\n")
    (package / "build" / "generated.py").write_text("g = 2\n")
    assert module_hash(package) == before
    (package / "sub" / "helper.py").write_text("h = 2\n")
    assert module_hash(package) != before


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_tracked_but_ignored_files_are_still_skipped(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    package = _tree(tmp_path)
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    (tmp_path / ".gitignore").write_text("core.py\n")
    assert "core.py" not in _names(package)


def test_a_file_module_is_itself(tmp_path: Path) -> None:
    module = tmp_path / "tool.py"
    module.write_text("")
    assert module_files(module) == (module,)
