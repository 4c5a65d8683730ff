"""Where runtime things live: envstacks' cache, the local search path, a runtime's interpreter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from envstacks.stages.stackspec.model import StackSpec

__all__ = [
    "CACHE_DIR_ENV_VAR",
    "SEARCH_PATH_ENV_VAR",
    "python_search_path",
    "runtime_python",
    "user_cache_dir",
    "uv_install_dir",
]

#: Overrides the user cache folder (default ``$XDG_CACHE_HOME/envstacks`` on Linux).
CACHE_DIR_ENV_VAR = "ENVSTACKS_CACHE_DIR"
#: Extra folders (``os.pathsep``-separated) searched for local interpreters.
SEARCH_PATH_ENV_VAR = "ENVSTACKS_PYTHON_SEARCH_PATH"


def user_cache_dir() -> Path:
    r"""The envstacks cache folder: ``$ENVSTACKS_CACHE_DIR``, else the user cache folder.

    The user cache folder is ``$XDG_CACHE_HOME/envstacks`` or ``~/.cache/envstacks`` on
    Linux, ``~/Library/Caches/envstacks`` on macOS, ``%LOCALAPPDATA%\envstacks\Cache`` on
    Windows.
    """
    override = os.environ.get(CACHE_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs  # noqa: PLC0415 - only when no override says where (a tenth of a no-op run)

    return Path(platformdirs.user_cache_dir("envstacks", appauthor=False))


def uv_install_dir(cache_dir: Path) -> Path:
    """The folder under envstacks' cache that ``uv python install --install-dir`` fills.

    The uv-managed provider installs there; the local provider searches it too.
    """
    return cache_dir / "uv-python"


def python_search_path(spec: StackSpec) -> tuple[Path, ...]:
    """Folders searched first for local interpreters.

    ``ENVSTACKS_PYTHON_SEARCH_PATH`` (machine-specific, so it comes first) and then the
    stack's ``python-search-path``.
    """
    from_env = [
        Path(part).expanduser().absolute()
        for part in os.environ.get(SEARCH_PATH_ENV_VAR, "").split(os.pathsep)
        if part.strip()
    ]
    return tuple(dict.fromkeys([*from_env, *spec.settings.python_search_path]))


def runtime_python(env_path: Path) -> Path:
    """The interpreter inside a provisioned runtime layer folder (``bin/python`` on POSIX)."""
    if sys.platform == "win32":
        return env_path / "python.exe"
    return env_path / "bin" / "python"
