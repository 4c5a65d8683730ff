"""tox plugin (loaded by tox from this file): find the CPythons of pyenv that its shims hide.

``tox`` runs the tests on Python 3.11, 3.12 and 3.13. tox-uv looks for ``python3.12`` on
``PATH``; with pyenv, that is a shim that fails unless ``pyenv global`` (or ``local``)
selects 3.12, and uv stops at the first failing interpreter instead of looking further.
For each ``pyXY`` environment whose interpreter does not run from ``PATH``, this puts the
``bin`` folder of a matching pyenv installation first on ``PATH`` (only for this tox run),
so an installed CPython is used whatever pyenv selects. Without pyenv, nothing changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tox.config.sets import EnvConfigSet
from tox.plugin import impl
from tox.session.state import State

_PY_FACTOR = re.compile(r"^py3(\d+)$")


def _runs(executable: str) -> bool:
    """Whether ``executable`` (looked up on PATH) starts."""
    found = shutil.which(executable)
    if found is None:
        return False
    try:
        done = subprocess.run([found, "-c", "pass"], capture_output=True, check=False)
    except OSError:
        return False
    return done.returncode == 0


def _pyenv_python(version: str) -> Path | None:
    """``<pyenv root>/versions/<version>.N/bin/python<version>``, the newest installed."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = root / "versions"
    if not versions.is_dir():
        return None
    pattern = re.compile(rf"{re.escape(version)}\.\d+")
    candidates = sorted(
        (entry for entry in versions.iterdir() if pattern.fullmatch(entry.name)),
        key=lambda entry: int(entry.name.rsplit(".", 1)[1]),
        reverse=True,
    )
    for entry in candidates:
        python = entry / "bin" / f"python{version}"
        if python.is_file() and os.access(python, os.X_OK):
            return python
    return None


def _wanted_version(env_conf: EnvConfigSet) -> str | None:
    """The ``3.X`` an environment asks for: a ``pyXY`` factor of its name or its base_python."""
    names = env_conf.name.split("-")
    if not any(_PY_FACTOR.match(name) for name in names):
        names = [str(spec) for spec in env_conf["base_python"]]
    for name in names:
        match = _PY_FACTOR.match(name)
        if match is not None:
            return f"3.{match.group(1)}"
    return None


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    """Before tox-uv looks for the environment's interpreter, put a working one first on PATH."""
    if env_conf.name.startswith("."):  # the packaging environment: tox's own Python
        return
    version = _wanted_version(env_conf)
    if version is None or _runs(f"python{version}"):
        return
    python = _pyenv_python(version)
    if python is not None:
        os.environ["PATH"] = os.pathsep.join([str(python.parent), os.environ.get("PATH", "")])
