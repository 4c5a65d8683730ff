"""``fs.remove_tree`` removes what its owner may remove, read-only folders included.

The work folders deploy removes when a layer is refused may hold folders without write or read
permission (a layer's own postinstall can make them so before it fails); ``shutil.rmtree``
leaves those behind for a non-root user. Root may remove anything, so the removal runs as the
unprivileged ``nobody`` in a subprocess, with envstacks imported before it drops root (the
interpreter under /root is not readable by ``nobody``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root, to act as another user"
)

REMOVE_AS_NOBODY = """\
import os, shutil, sys
from pathlib import Path
from envstacks.floor.fs import remove_tree
uid = int(sys.argv[3])
os.setgid(uid)
os.setuid(uid)
path = Path(sys.argv[1])
if sys.argv[2] == "rmtree":
    shutil.rmtree(path, ignore_errors=True)
    print(not os.path.lexists(path))
else:
    print(remove_tree(path))
"""


def _tree(root: Path, uid: int) -> Path:
    """A work folder holding a read-only folder with a file and a folder nobody may list."""
    work = root / ".envstacks-tmp.1-abcd.app-x"
    (work / "app-x" / "locked").mkdir(parents=True)
    (work / "app-x" / "locked" / "module.py").write_text("x = 1\n")
    (work / "app-x" / "hidden").mkdir()
    (work / "app-x" / "hidden" / "data.bin").write_bytes(b"\0" * 10)
    for path in [work, *work.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
    (work / "app-x" / "locked").chmod(0o555)
    (work / "app-x" / "hidden").chmod(0o000)
    os.chown(root, uid, uid)
    return work


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder ``nobody`` can reach (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="envstacks-remove-tree-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize(("how", "gone"), [("rmtree", "False"), ("remove_tree", "True")])
def test_a_tree_with_read_only_folders_is_removed_by_its_owner(
    open_folder: Path, how: str, gone: str
):
    uid = pwd.getpwnam("nobody").pw_uid
    target = open_folder / "target"
    target.mkdir()
    work = _tree(target, uid)
    done = subprocess.run(
        [sys.executable, "-c", REMOVE_AS_NOBODY, str(work), how, str(uid)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == gone, done.stderr
    # shutil.rmtree(ignore_errors=True) leaves the folder (what a refused layer left behind);
    # remove_tree empties the read-only folders first.
    assert work.exists() == (how == "rmtree")
