"""Runtime provisioning values and the entry point that asks the providers (a firstresult hook)."""

from __future__ import annotations

import difflib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from envstacks.errors import EnvStacksError, RuntimeProvisionError
from envstacks.platforms import IMPLEMENTATIONS, require_host_platform
from envstacks.report import Reporter
from envstacks.runtime.probe import parse_version_request, probe, version_matches
from envstacks.spec.model import RuntimeSpec, StackSpec

#: ``runtime-provider`` value that lets the providers decide (uv-managed first, then local).
AUTO = "auto"
#: Overrides the user cache folder (default ``$XDG_CACHE_HOME/envstacks``).
CACHE_DIR_ENV_VAR = "ENVSTACKS_CACHE_DIR"
#: Extra folders (``os.pathsep``-separated) searched for local interpreters.
SEARCH_PATH_ENV_VAR = "ENVSTACKS_PYTHON_SEARCH_PATH"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeRequest:
    """What a runtime layer needs: passed to every ``envstacks_provide_runtime`` implementation."""

    #: Build name of the runtime layer (for messages).
    layer: str
    #: ``"cpython"`` (or ``"pypy"``).
    implementation: str
    #: ``"3.12.1"`` (exact) or ``"3.12"`` (newest 3.12 available).
    version: str
    #: ``"auto"``, ``"local"``, ``"uv-managed"`` or a third-party provider's name.
    provider: str
    #: Target platform name (the host's).
    platform: str
    #: Extra folders to search for local interpreters, before the built-in places.
    search_path: tuple[Path, ...] = ()
    #: Folder a provider may use for downloads and other reusable state.
    cache_dir: Path
    #: Where each provider looked and what it found lacking; filled in by the providers and
    #: shown to the user when no provider succeeds. (Mutable on purpose: an out-parameter.)
    #: Entries start with the provider's name: ``"local: searched /opt/python*: ..."``.
    search_log: list[str] = field(default_factory=list)
    #: The layer's TOML path (``tool.venvstacks.runtimes[0]``), for messages.
    toml_path: str = ""
    #: uv's ``python-install-mirror`` (``UV_PYTHON_INSTALL_MIRROR`` wins over the stack's
    #: ``[tool.venvstacks.uv]`` setting); a URL, local paths already made ``file://`` URLs.
    python_install_mirror: str | None = None
    #: uv's ``python-downloads-json-url`` (environment first, then the stack); a URL or an
    #: absolute path.
    python_downloads_json_url: str | None = None
    #: uv's offline mode (``UV_OFFLINE`` or the stack's ``offline = true``): no downloads.
    offline: bool = False

    @property
    def python_implementation(self) -> str:
        """The request as the spec writes it (``cpython@3.12``)."""
        return f"{self.implementation}@{self.version}"

    def log(self, provider: str, message: str) -> None:
        """Record where ``provider`` looked or why it did not apply (for the final error)."""
        self.search_log.append(f"{provider}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvidedRuntime:
    """A Python installation a provider has put into a runtime layer's folder."""

    #: Name of the provider that made it (``"local"``, ``"uv-managed"``...).
    provider: str
    #: Full ``X.Y.Z`` version of the interpreter.
    version: str
    #: The interpreter, relative to the runtime layer's folder (``bin/python3.12``).
    python: Path
    #: Where it came from (an installation folder, a URL), for the user.
    source: str


def runtime_python(env_path: Path) -> Path:
    """The interpreter inside a provisioned runtime layer folder (``bin/python`` on POSIX)."""
    if sys.platform == "win32":
        return env_path / "python.exe"
    return env_path / "bin" / "python"


def user_cache_dir() -> Path:
    """The envstacks cache folder: ``$ENVSTACKS_CACHE_DIR``, else the user cache folder."""
    override = os.environ.get(CACHE_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().absolute()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "envstacks" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "envstacks"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "envstacks"


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


def _uv_setting(spec: StackSpec, key: str) -> object:
    settings = spec.uv.settings
    return settings.get(key, settings.get(key.replace("-", "_")))


def _location(value: str, root: Path, *, as_url: bool) -> str:
    """A URL stays as it is; a local path is made absolute (against the spec's folder)."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else root / path
    return path.as_uri() if as_url else os.fspath(path)


def runtime_request(spec: StackSpec, runtime: RuntimeSpec) -> RuntimeRequest:
    """The request the providers receive for ``runtime``.

    Raises:
        PlatformError: this machine is none of the supported platforms.
    """
    platform = require_host_platform(f"runtime layer '{runtime.build_name}'")
    values: dict[str, str | None] = {}
    for key, env_var in (
        ("python-install-mirror", "UV_PYTHON_INSTALL_MIRROR"),
        ("python-downloads-json-url", "UV_PYTHON_DOWNLOADS_JSON_URL"),
    ):
        # As in uv itself, the environment overrides the configuration.
        raw = os.environ.get(env_var) or _uv_setting(spec, key)
        values[key] = (
            _location(str(raw), spec.root, as_url=key == "python-install-mirror") if raw else None
        )
    offline_setting = _uv_setting(spec, "offline")
    offline = os.environ.get("UV_OFFLINE", "").strip().lower() in _TRUE or offline_setting is True
    return RuntimeRequest(
        layer=runtime.build_name,
        implementation=runtime.implementation,
        version=runtime.python_version,
        provider=spec.settings.runtime_provider,
        platform=platform,
        search_path=python_search_path(spec),
        cache_dir=user_cache_dir(),
        toml_path=runtime.toml_path,
        python_install_mirror=values["python-install-mirror"],
        python_downloads_json_url=values["python-downloads-json-url"],
        offline=offline,
    )


def known_providers(pm: pluggy.PluginManager) -> tuple[str, ...]:
    """Every runtime provider name the registered plugins offer, sorted, plus ``auto``."""
    names = {str(name) for names in pm.hook.envstacks_runtime_providers() for name in names}
    return (AUTO, *sorted(names - {AUTO}))


def _check_provider(spec: StackSpec, pm: pluggy.PluginManager) -> None:
    provider = spec.settings.runtime_provider
    known = known_providers(pm)
    if provider in known:
        return
    close = difflib.get_close_matches(provider, known, n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    raise RuntimeProvisionError(
        f"{spec.toml_prefix}runtime-provider: unknown runtime provider {provider!r} (known: "
        f"{', '.join(repr(name) for name in known)}){suggestion}",
        hint="install the plugin that offers it, or use one of the known providers",
    )


def _not_found(
    spec: StackSpec, runtime: RuntimeSpec, request: RuntimeRequest
) -> RuntimeProvisionError:
    place = (
        f"{runtime.toml_path}.python_implementation"
        if runtime.toml_path
        else "python_implementation"
    )
    searched = (
        "\n".join(f"  - {entry}" for entry in request.search_log) or "  (no provider answered)"
    )
    prefix = spec.toml_prefix
    return RuntimeProvisionError(
        f"no Python runtime for layer '{runtime.build_name}': {place} = "
        f'"{runtime.python_implementation}", {prefix}runtime-provider = "{request.provider}".\n'
        f"Searched:\n{searched}\n"
        f"To fix it: install CPython {runtime.python_version} (pyenv install, uv python install, "
        "or a python.org build), or point envstacks at an existing installation with "
        f"{prefix}python-search-path or {SEARCH_PATH_ENV_VAR}, or configure a "
        "python-build-standalone mirror (python-install-mirror / python-downloads-json-url in "
        f"{prefix}uv, or UV_PYTHON_INSTALL_MIRROR / UV_PYTHON_DOWNLOADS_JSON_URL).",
        hint=f"install CPython {runtime.python_version} or set {SEARCH_PATH_ENV_VAR}",
    )


def _check_result(
    result: ProvidedRuntime, request: RuntimeRequest, destination: Path, reporter: Reporter
) -> None:
    """The post-conditions every provider must meet: a working interpreter of the right version."""
    fault = f"runtime provider {result.provider!r} made a broken runtime at {destination}"
    python = runtime_python(destination)
    for path in (python, destination / result.python):
        if not path.exists():
            raise RuntimeProvisionError(f"{fault}: {path} does not exist")
    try:
        info = probe(python, reporter=reporter)
    except EnvStacksError as exc:
        raise RuntimeProvisionError(f"{fault}: {exc.message}") from exc
    requested = parse_version_request(request.version, layer=request.layer)
    if not version_matches(info, requested):
        raise RuntimeProvisionError(
            f"{fault}: it is Python {info.full_version}, not the requested {request.version}"
        )
    if os.path.realpath(info.prefix) != os.path.realpath(destination):
        raise RuntimeProvisionError(
            f"{fault}: its sys.prefix is {info.prefix}, not the runtime folder (not relocatable?)"
        )


def provision_runtime(
    spec: StackSpec,
    runtime: RuntimeSpec,
    destination: Path,
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
) -> ProvidedRuntime:
    """Put a Python installation for ``runtime`` at ``destination`` through the runtime providers.

    The provider comes from ``runtime-provider``; ``auto`` asks uv-managed first (without
    waiting for a network that is not there), then local. The result is checked: its
    ``bin/python`` runs, has the requested version and treats ``destination`` as its prefix.

    Raises:
        RuntimeProvisionError: ``destination`` already exists, ``runtime-provider`` names no
            known provider, or no provider could supply the runtime (the message lists
            everything searched and how to fix it).
    """
    _check_provider(spec, pm)
    if destination.exists() or destination.is_symlink():
        raise RuntimeProvisionError(
            f"runtime layer '{runtime.build_name}': {destination} already exists",
            hint="remove it to provision the runtime again",
        )
    request = runtime_request(spec, runtime)
    parse_version_request(request.version, layer=request.layer)
    destination.parent.mkdir(parents=True, exist_ok=True)
    result = pm.hook.envstacks_provide_runtime(
        request=request, destination=destination, reporter=reporter
    )
    if result is None:
        raise _not_found(spec, runtime, request)
    if not isinstance(result, ProvidedRuntime):
        raise RuntimeProvisionError(
            f"a runtime provider returned {type(result).__name__}, not ProvidedRuntime"
        )
    try:
        _check_result(result, request, destination, reporter)
    except RuntimeProvisionError:
        # Never leave a broken runtime behind: the next build would take it as made.
        shutil.rmtree(destination, ignore_errors=True)
        raise
    others = [entry for entry in request.search_log if not entry.startswith(f"{result.provider}: ")]
    why = f" ({'; '.join(others)})" if others and request.provider == AUTO else ""
    implementation = IMPLEMENTATIONS.get(runtime.implementation, runtime.implementation)
    reporter.info(
        f"{runtime.build_name}: {implementation} "
        f"{result.version} from the {result.provider!r} runtime "
        f"provider, source {result.source}{why}"
    )
    for entry in request.search_log:
        reporter.debug(f"{runtime.build_name}: {entry}")
    return result
