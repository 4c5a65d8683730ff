"""The one place that runs uv: finds the binary, runs it with explicit, logged arguments.

Every uv call gets ``--no-config`` semantics for user and system configuration: the stack's
own settings are written into the generated files, so a developer's ``~/.config/uv/uv.toml``
or ``/etc/uv/uv.toml`` never changes what a lock or a build contains.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import BuildError, EnvStacksError, ToolError
from envstacks.floor.report import Reporter

#: uv settings taken from the environment that would change a resolution or an install
#: behind the stack's back. Credentials (``UV_INDEX_<NAME>_USERNAME``...), certificates,
#: the cache location, mirrors and offline mode stay: they say how to reach things, not what.
_UV_ENV_BLOCKLIST = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_INDEX_STRATEGY",
    "UV_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_BUILD_CONSTRAINT",
    "UV_PRERELEASE",
    "UV_RESOLUTION",
    "UV_NO_BINARY",
    "UV_NO_BUILD",
    "UV_CONFIG_FILE",
    "UV_PROJECT",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PYTHON",
    "UV_SYSTEM_PYTHON",
    "UV_BREAK_SYSTEM_PACKAGES",
    "UV_PYTHON_PREFERENCE",
    "UV_LOCKED",
    "UV_FROZEN",
)


#: Held while uv is looked for: builds run on threads, and ``uv.find_uv_bin`` reads
#: ``sysconfig``, whose first use is not thread-safe (a thread that comes second may see its
#: configuration half made, and ``EXE`` missing).
_FINDING_UV = threading.Lock()


def uv_bin() -> str:
    """Locate the uv executable: the one installed with envstacks, else the one on PATH.

    Looked for once per process, by one thread at a time.
    """
    with _FINDING_UV:
        return _find_uv_bin()


@functools.cache
def _find_uv_bin() -> str:
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - optional until first use

        return os.fspath(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise ToolError(
            "uv is not installed: envstacks needs it to lock and install layers",
            hint="pip install uv (it is a dependency of envstacks; reinstall envstacks)",
        )
    return found


def uv_environ(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment for a uv subprocess: no Python noise, no resolution-changing UV_*."""
    settings: dict[str, str | None] = dict.fromkeys(_UV_ENV_BLOCKLIST)
    # Colour codes and progress bars would end up in captured error messages.
    settings.update(NO_COLOR="1", UV_NO_PROGRESS="1")
    # Never let a lock or install step download an interpreter on its own: runtimes are
    # provisioned explicitly by the runtime providers, which pass their own settings.
    settings["UV_PYTHON_DOWNLOADS"] = os.environ.get("UV_PYTHON_DOWNLOADS", "never")
    settings.update(extra or {})
    return proc.clean_environ(settings)


def run_uv(
    args: Sequence[str | os.PathLike[str]],
    *,
    reporter: Reporter,
    what: str,
    error: type[EnvStacksError] = ToolError,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``uv <args>`` in a clean environment; raise ``error`` (naming ``what``) on failure."""
    return proc.run(
        [uv_bin(), *args],
        cwd=cwd,
        env=uv_environ(env),
        reporter=reporter,
        check=check,
        what=what,
        error=error,
    )


def build_wheel(
    project_root: Path, out_dir: Path, *, reporter: Reporter, python: Path | None = None
) -> Path:
    """Build ``project_root``'s wheel with ``uv build`` (PEP 517) into ``out_dir`` (made fresh).

    ``python`` is the interpreter the wheel is built for (and its build backend runs on): the
    runtime layer's, so that compiled extensions match the layers they go into (default:
    the Python running envstacks).

    Raises:
        BuildError: the build failed or did not give exactly one wheel.
    """
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    run_uv(
        [
            "build",
            "--wheel",
            "--out-dir",
            out_dir,
            # The build backend runs in an isolated env made by uv on this interpreter; naming
            # it also keeps uv from going looking for one (discovery trips over pyenv shims).
            "--python",
            python if python is not None else sys.executable,
            project_root,
        ],
        reporter=reporter,
        what=f"build the wheel of the project at {project_root}",
        error=BuildError,
    )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(
            f"building the project at {project_root} gave {len(wheels)} wheels in {out_dir}, "
            "expected exactly one"
        )
    return wheels[0]
