"""The local runtime provider: adopt an installed CPython and make the copy relocatable.

Interpreters are searched, in this order, in the configured search path
(``ENVSTACKS_PYTHON_SEARCH_PATH``, ``python-search-path``), the pyenv versions folder, uv's
managed installations (the user's and envstacks' own cache), then ``/usr/local``,
``/opt/python*`` and ``/usr``. Each candidate is run to learn its exact version and layout;
pyenv shims (scripts, not interpreters) are never used. The chosen installation is copied
by :class:`envstacks.stages.runtime.adopt.AdoptingProvider`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import uvrun
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import Reporter
from envstacks.stages.runtime import relocate
from envstacks.stages.runtime.adopt import AdoptingProvider, Found, judge
from envstacks.stages.runtime.contract import RuntimeProvider, RuntimeRequest
from envstacks.stages.runtime.paths import uv_install_dir
from envstacks.stages.runtime.probe import InterpreterInfo

__all__ = ["NAME", "LocalProvider", "candidates_in", "find_interpreter", "search_places"]

NAME = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlace:
    """A folder (or interpreter) to look in, and why it is searched."""

    path: Path
    #: ``"python-search-path"``, ``"pyenv"``, ``"uv-managed installs"``, ``"common prefix"``.
    label: str


def _uv_python_dir(reporter: Reporter) -> Path:
    """Where uv keeps the user's managed Pythons (``uv python dir``, honouring its settings)."""
    try:
        result = uvrun.run_uv(
            # --no-config: only the user's uv settings file could move the folder, and the
            # environment (UV_PYTHON_INSTALL_DIR) is still honoured.
            ["python", "dir", "--no-config"],
            reporter=reporter,
            what="ask uv where it installs Pythons",
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip():
            return Path(result.stdout.strip())
    except EnvStacksError:
        pass
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "uv" / "python"


def search_places(request: RuntimeRequest, reporter: Reporter) -> list[SearchPlace]:
    """Every place the local provider looks for an interpreter, in search order."""
    places = [SearchPlace(path=path, label="python-search-path") for path in request.search_path]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    places.append(SearchPlace(path=pyenv_root / "versions", label="pyenv"))
    places.append(SearchPlace(path=_uv_python_dir(reporter), label="uv-managed installs"))
    places.append(
        SearchPlace(path=uv_install_dir(request.cache_dir), label="envstacks' uv-managed cache")
    )
    # An empty glob still shows up in the search log, so users see it was looked at.
    opt = sorted(Path("/opt").glob("python*")) or [Path("/opt/python*")]
    common = [Path("/usr/local"), *opt, Path("/usr")]
    places += [SearchPlace(path=path, label="common prefix") for path in common]
    return places


def candidates_in(place: Path, feature: str) -> list[Path]:
    """The ``pythonX.Y`` executables at ``place``.

    ``place`` may be an interpreter, a prefix, a ``bin`` folder, or a folder of
    installations (pyenv's ``versions``, uv's python folder).
    """
    if place.is_file():
        return [place]
    name = f"python{feature}"
    direct = [path for path in (place / "bin" / name, place / name) if path.is_file()]
    if direct or not place.is_dir():
        return direct
    try:
        children = sorted(place.iterdir())
    except OSError:
        return []
    return [child / "bin" / name for child in children if (child / "bin" / name).is_file()]


def _judge(candidate: Path, request: RuntimeRequest, reporter: Reporter) -> InterpreterInfo | None:
    """Skip scripts, then probe and judge one candidate (None unless it is a usable match)."""
    if "shims" in candidate.parts or relocate.shebang(candidate) is not None:
        request.log(
            NAME, f"{candidate}: skipped: a script (pyenv shim or wrapper), not an interpreter"
        )
        return None
    return judge(candidate, request, provider=NAME, reporter=reporter)


def find_interpreter(request: RuntimeRequest, reporter: Reporter) -> InterpreterInfo | None:
    """The best local installation for ``request``, logging every place and candidate.

    That is the first exact match for ``X.Y.Z``, or the newest release of ``X.Y`` (final
    releases before pre-releases, then search order).
    """
    feature = request.version.feature
    seen: set[str] = set()
    matches: list[InterpreterInfo] = []
    for place in search_places(request, reporter):
        if not place.path.exists():
            request.log(NAME, f"{place.path} ({place.label}): not found")
            continue
        found = candidates_in(place.path, feature)
        if not found:
            request.log(NAME, f"{place.path} ({place.label}): no python{feature}")
            continue
        for candidate in found:
            real = os.path.realpath(candidate)
            if real in seen:
                continue
            seen.add(real)
            info = _judge(candidate, request, reporter)
            if info is not None:
                if request.version.exact:
                    return info
                matches.append(info)
    if not matches:
        return None
    ranked = sorted(
        enumerate(matches),
        key=lambda item: (
            item[1].releaselevel == "final",
            item[1].version,
            item[1].serial,
            -item[0],
        ),
    )
    return ranked[-1][1]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalProvider(AdoptingProvider):
    """The ``local`` runtime provider: adopts a matching CPython installed on this machine."""

    name: str = NAME

    def find(self, request: RuntimeRequest, reporter: Reporter) -> Found | None:
        """The best matching local CPython (see :func:`find_interpreter`)."""
        problem = _unsupported(request)
        if problem is not None:
            request.log(NAME, problem)
            return None
        info = find_interpreter(request, reporter)
        return None if info is None else Found(info=info, source=os.fspath(info.prefix))


def _unsupported(request: RuntimeRequest) -> str | None:
    """Why this provider cannot serve ``request`` at all on this machine, or None."""
    if request.implementation != "cpython":
        return f"adopts CPython only, not {request.implementation}"
    if request.platform != host_platform():
        return f"cannot adopt an interpreter for {request.platform} on this machine"
    if not sys.platform.startswith("linux"):
        return (
            "adopting a local interpreter is implemented for Linux only (elsewhere its shared "
            "libraries would need install-name rewriting); use runtime-provider = 'uv-managed'"
        )
    return None


# trylast: a third-party provider named "local" is asked first, so it replaces this one.
@hookimpl(trylast=True)
def envstacks_runtime_providers() -> tuple[RuntimeProvider, ...]:
    """The local provider."""
    return (LocalProvider(),)
