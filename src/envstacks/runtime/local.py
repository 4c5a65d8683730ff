"""The local runtime provider: adopt an installed CPython and make the copy relocatable.

Interpreters are searched, in this order, in the configured search path
(``ENVSTACKS_PYTHON_SEARCH_PATH``, ``python-search-path``), the pyenv versions folder, uv's
managed installations (the user's and envstacks' own cache), then ``/usr/local``,
``/opt/python*`` and ``/usr``. Each candidate is run to learn its exact version and layout;
pyenv shims (scripts, not interpreters) are never used. The chosen installation is copied
by :func:`envstacks.runtime.adopt.copy_installation`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from envstacks import uvrun
from envstacks.errors import EnvStacksError
from envstacks.hooks.markers import hookimpl
from envstacks.platforms import host_platform
from envstacks.report import Reporter
from envstacks.runtime import relocate
from envstacks.runtime.adopt import SHARED_PREFIXES, copy_installation
from envstacks.runtime.probe import (
    InterpreterInfo,
    layout_problem,
    parse_version_request,
    probe_or_reason,
    version_matches,
)
from envstacks.runtime.provision import AUTO, ProvidedRuntime, RuntimeRequest
from envstacks.runtime.uv_managed import UV_INSTALL_SUBDIR

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
        SearchPlace(path=request.cache_dir / UV_INSTALL_SUBDIR, label="envstacks' uv-managed cache")
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


def _judge(
    candidate: Path, requested: tuple[int, ...], request: RuntimeRequest, reporter: Reporter
) -> InterpreterInfo | None:
    """Probe one candidate; log and return None unless it is a usable match."""
    if "shims" in candidate.parts or relocate.shebang(candidate) is not None:
        request.log(
            NAME, f"{candidate}: skipped: a script (pyenv shim or wrapper), not an interpreter"
        )
        return None
    info = probe_or_reason(candidate, reporter=reporter)
    if isinstance(info, str):
        request.log(NAME, f"{candidate}: does not run: {info}")
        return None
    if info.implementation != request.implementation:
        request.log(NAME, f"{candidate}: {info.implementation}, not {request.implementation}")
        return None
    if not version_matches(info, requested):
        request.log(NAME, f"{candidate}: Python {info.full_version}, not {request.version}")
        return None
    problem = layout_problem(info)
    if problem is not None:
        request.log(NAME, f"{candidate}: Python {info.full_version} rejected: {problem}")
        return None
    request.log(NAME, f"{candidate}: Python {info.full_version} matches")
    return info


def find_interpreter(request: RuntimeRequest, reporter: Reporter) -> InterpreterInfo | None:
    """The best local installation for ``request``, logging every place and candidate.

    That is the first exact match for ``X.Y.Z``, or the newest release of ``X.Y`` (final
    releases before pre-releases, then search order).
    """
    requested = parse_version_request(request.version, layer=request.layer)
    feature = f"{requested[0]}.{requested[1]}"
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
            info = _judge(candidate, requested, request, reporter)
            if info is not None:
                if len(requested) == 3:
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


@hookimpl(trylast=True)
def envstacks_runtime_providers() -> tuple[str, ...]:
    """The local provider's name."""
    return (NAME,)


@hookimpl(trylast=True)
def envstacks_provide_runtime(
    request: RuntimeRequest, destination: Path, reporter: Reporter
) -> ProvidedRuntime | None:
    """Copy a matching local CPython into ``destination`` and make it relocatable."""
    if request.provider not in (AUTO, NAME):
        return None
    if request.implementation != "cpython":
        request.log(NAME, f"adopts CPython only, not {request.implementation}")
        return None
    if request.platform != host_platform():
        request.log(NAME, f"cannot adopt an interpreter for {request.platform} on this machine")
        return None
    if not sys.platform.startswith("linux"):
        request.log(
            NAME,
            "adopting a local interpreter is implemented for Linux only (elsewhere its shared "
            "libraries would need install-name rewriting); use runtime-provider = 'uv-managed'",
        )
        return None
    info = find_interpreter(request, reporter)
    if info is None:
        return None
    prefix = info.prefix
    whole = not {os.fspath(prefix), os.path.realpath(prefix)} & SHARED_PREFIXES
    reporter.debug(f"{request.layer}: adopting {info.executable} (prefix {prefix})")
    python = copy_installation(
        info, destination, layer=request.layer, whole_prefix=whole, reporter=reporter
    )
    return ProvidedRuntime(
        provider=NAME, version=info.full_version, python=python, source=os.fspath(prefix)
    )
