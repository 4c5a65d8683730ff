"""Shared test fixtures: local interpreters, isolated tool state, spec-writing helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

TESTS_DIR = Path(__file__).parent
REPO_ROOT = TESTS_DIR.parent


def _pyenv_root() -> Path:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return Path.home() / ".pyenv"


def find_python(version: str) -> Path | None:
    """A real (non-shim) CPython interpreter of feature version ``version`` ("3.12"), if any."""
    candidates: list[Path] = []
    versions = _pyenv_root() / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), reverse=True):
            if entry.name == version or entry.name.startswith(version + "."):
                candidates.append(entry / "bin" / f"python{version}")
    if sys.version_info[:2] == tuple(int(p) for p in version.split(".")):
        candidates.append(Path(sys.executable))
    for prefix in ("/usr/local/bin", "/usr/bin"):
        candidates.append(Path(prefix) / f"python{version}")
    found = shutil.which(f"python{version}")
    if found and "shims" not in found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def python_for() -> Callable[[str], Path]:
    """Return a function giving a local interpreter for a feature version, skipping if absent."""

    def _get(version: str) -> Path:
        path = find_python(version)
        if path is None:
            pytest.skip(f"no local CPython {version} on this machine")
        return path

    return _get


@pytest.fixture(scope="session", autouse=True)
def session_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Builds share one pyc cache per test session (and worker), never the user's.

    The archive cache is off (tests of packing must pack); its own tests turn it on.
    """
    values = {
        "ENVSTACKS_PYC_CACHE_DIR": str(tmp_path_factory.mktemp("pyc-cache")),
        "ENVSTACKS_ARCHIVE_CACHE_DIR": "off",
    }
    unset = [name for name in values if name not in os.environ]
    for name in unset:
        os.environ[name] = values[name]
    yield
    for name in unset:
        os.environ.pop(name, None)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file under ``tmp_path`` (creating folders) and return its path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """The stack kit (:mod:`kits.stacks`): write, lock and build stacks, build wheels."""
    from kits import stacks

    return stacks


class SmallFileSystem:
    """A tmpfs of a fixed size mounted for one test: a disk that fills up, or turns read-only."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        self.size = size

    def _mount(self, *options: str) -> None:
        subprocess.run(["mount", *options], check=True, capture_output=True)

    def read_only(self) -> None:
        """Remount read-only (what a read-only target, output or build folder looks like)."""
        self._mount("-o", "remount,ro", str(self.path))

    def read_write(self, size: str | None = None) -> None:
        """Remount writable, optionally with another size (freeing space, as a user would)."""
        self.size = size or self.size
        self._mount("-o", f"remount,rw,size={self.size}", str(self.path))

    def fill(self, leave: int = 0) -> Path:
        """Fill the file system, leaving about ``leave`` bytes free; returns the filler file."""
        filler = self.path / "filler.bin"
        free = shutil.disk_usage(self.path).free - leave
        with filler.open("wb") as out:
            chunk = b"\0" * (1 << 20)
            while free > 0:
                try:
                    out.write(chunk[: min(len(chunk), free)])
                    out.flush()
                except OSError:
                    break
                free -= len(chunk)
        return filler


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[..., SmallFileSystem]]:
    """Return ``mount(name, size="8m") -> SmallFileSystem`` (tmpfs, unmounted after the test).

    Needs root on Linux (as on the CI machines); skips with the reason otherwise.
    """
    mounted: list[Path] = []

    def mount(name: str = "small", size: str = "8m") -> SmallFileSystem:
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root on Linux")
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return SmallFileSystem(path, size)

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def read_only_bind() -> Iterator[Callable[[Path], None]]:
    """Return ``freeze(folder)``: make an existing folder read-only by a read-only bind mount.

    Needs root on Linux; skips with the reason otherwise. Unmounted after the test.
    """
    mounted: list[Path] = []

    def freeze(folder: Path) -> None:
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            pytest.skip("a read-only bind mount needs root on Linux")
        for options in (["--bind"], ["-o", "remount,bind,ro"]):
            done = subprocess.run(
                ["mount", *options, str(folder), str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
            if options == ["--bind"]:
                mounted.append(folder)

    yield freeze
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
