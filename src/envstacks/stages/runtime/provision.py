"""Provision a runtime layer: build the request, choose providers by name, run them, check.

Providers come from the ``envstacks_runtime_providers`` hook, collected into a
:class:`~envstacks.floor.named_plugins.Registry`. ``runtime-provider`` names one of them, or
``auto``, which tries them in the explicit order :data:`AUTO_ORDER`. Whatever a provider
makes is run before it is accepted; a broken result is removed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pluggy

from envstacks.floor.errors import EnvStacksError, RuntimeProvisionError
from envstacks.floor.named_plugins import OTHERS, Registry
from envstacks.floor.platforms import IMPLEMENTATIONS, require_host_platform
from envstacks.floor.report import Reporter
from envstacks.stages.runtime.contract import (
    AUTO,
    ProvidedRuntime,
    RuntimeProvider,
    RuntimeRequest,
    VersionRequest,
)
from envstacks.stages.runtime.paths import (
    SEARCH_PATH_ENV_VAR,
    python_search_path,
    runtime_python,
    user_cache_dir,
)
from envstacks.stages.runtime.probe import probe
from envstacks.stages.runtime.provenance import record_provenance
from envstacks.stages.stackspec.model import RuntimeSpec, StackSpec

__all__ = [
    "AUTO_ORDER",
    "choose_providers",
    "known_providers",
    "provider_registry",
    "provision_runtime",
    "runtime_request",
]

#: What ``auto`` tries, in order: third-party providers first (installing one is a choice to
#: use it; they return None when they do not apply), then a managed download (it steps aside
#: at once when none can be had), then a local interpreter.
AUTO_ORDER: tuple[str, ...] = (OTHERS, "uv-managed", "local")

_TRUE = {"1", "true", "yes", "on"}


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


def _uv_python_settings(spec: StackSpec) -> tuple[str | None, str | None, bool]:
    """The python-install-mirror, python-downloads-json-url and offline mode uv uses."""
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
    return values["python-install-mirror"], values["python-downloads-json-url"], offline


def runtime_request(spec: StackSpec, runtime: RuntimeSpec) -> RuntimeRequest:
    """The request the providers receive for ``runtime`` (its version parsed once, here).

    Raises:
        PlatformError: this machine is none of the supported platforms.
        RuntimeProvisionError: the requested version is neither ``X.Y`` nor ``X.Y.Z``.
    """
    platform = require_host_platform(f"runtime layer '{runtime.build_name}'")
    version = VersionRequest.parse(runtime.python_version, layer=runtime.build_name)
    mirror, downloads_json_url, offline = _uv_python_settings(spec)
    return RuntimeRequest(
        layer=runtime.build_name,
        implementation=runtime.implementation,
        version=version,
        provider=spec.settings.runtime_provider,
        platform=platform,
        search_path=python_search_path(spec),
        cache_dir=user_cache_dir(),
        toml_path=runtime.toml_path,
        python_install_mirror=mirror,
        python_downloads_json_url=downloads_json_url,
        offline=offline,
    )


def provider_registry(pm: pluggy.PluginManager) -> Registry[RuntimeProvider]:
    """Every runtime provider the registered plugins offer, by name (``auto`` is an alias)."""
    return Registry.from_hook(
        pm,
        "envstacks_runtime_providers",
        kind="runtime provider",
        error=RuntimeProvisionError,
        aliases=(AUTO,),
    )


def known_providers(pm: pluggy.PluginManager) -> tuple[str, ...]:
    """Every valid ``runtime-provider`` value: ``auto``, then the providers' names sorted."""
    return provider_registry(pm).names()


def choose_providers(spec: StackSpec, pm: pluggy.PluginManager) -> tuple[RuntimeProvider, ...]:
    """The providers to try, in order, for the stack's ``runtime-provider``.

    Raises:
        RuntimeProvisionError: ``runtime-provider`` names no known provider.
    """
    registry = provider_registry(pm)
    name = spec.settings.runtime_provider
    if name == AUTO:
        return registry.ordered(AUTO_ORDER)
    where = f"{spec.toml_prefix}runtime-provider"
    return (registry.get(name, where=where, error=RuntimeProvisionError),)


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
    if not request.version.matches(info):
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

    The providers come from ``runtime-provider``: the one it names, or for ``auto`` those of
    :data:`AUTO_ORDER` (uv-managed steps aside without waiting for a network that is not
    there, then local). The first result is checked: its ``bin/python`` runs, has the
    requested version and treats ``destination`` as its prefix.

    Raises:
        RuntimeProvisionError: ``destination`` already exists, ``runtime-provider`` names no
            known provider, or no provider could supply the runtime (the message lists
            everything searched and how to fix it).
    """
    providers = choose_providers(spec, pm)
    if destination.exists() or destination.is_symlink():
        raise RuntimeProvisionError(
            f"runtime layer '{runtime.build_name}': {destination} already exists",
            hint="remove it to provision the runtime again",
        )
    request = runtime_request(spec, runtime)
    destination.parent.mkdir(parents=True, exist_ok=True)
    result = _first_result(providers, request, destination, reporter)
    if result is None:
        raise _not_found(spec, runtime, request)
    try:
        _check_result(result, request, destination, reporter)
    except RuntimeProvisionError:
        # Never leave a broken runtime behind: the next build would take it as made.
        shutil.rmtree(destination, ignore_errors=True)
        raise
    record_provenance(destination, result, reporter)  # for the runtime's SBOM
    _report(runtime, request, result, reporter)
    return result


def _first_result(
    providers: tuple[RuntimeProvider, ...],
    request: RuntimeRequest,
    destination: Path,
    reporter: Reporter,
) -> ProvidedRuntime | None:
    """Ask each provider in turn; the first runtime made wins."""
    for provider in providers:
        result = provider.provide(request, destination, reporter)
        if result is None:
            continue
        if not isinstance(result, ProvidedRuntime):
            raise RuntimeProvisionError(
                f"runtime provider {provider.name!r} returned {type(result).__name__}, "
                "not ProvidedRuntime"
            )
        return result
    return None


def _report(
    runtime: RuntimeSpec, request: RuntimeRequest, result: ProvidedRuntime, reporter: Reporter
) -> None:
    """Say which provider made the runtime, from where, and (for ``auto``) why not the others."""
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
    mismatch = name_version_mismatch(runtime.name, result.version)
    if mismatch is not None:
        reporter.warning(
            f"runtime layer '{runtime.build_name}' ({runtime.toml_path}): its name states "
            f"Python {mismatch}, but python_implementation = "
            f"{runtime.python_implementation!r} gave {implementation} {result.version}; "
            "rename the layer (and the `runtime` keys naming it) or set "
            f"python_implementation = '{runtime.implementation}@{mismatch}'"
        )


#: A Python feature version written in a name: ``3.12`` or ``3_12``, not part of a longer
#: number (``2024.10`` states no Python version).
_NAMED_VERSION = re.compile(r"(?<![\d.])([23])[._](\d{1,2})(?!\d)")


def name_version_mismatch(name: str, version: str) -> str | None:
    """The ``X.Y`` a runtime's name states when the interpreter it got is another one.

    ``cpython-3.12`` given CPython 3.13.1 gives ``"3.12"``; a name stating no version, or the
    interpreter's own, gives ``None``.
    """
    named = {f"{major}.{minor}" for major, minor in _NAMED_VERSION.findall(name)}
    feature = ".".join(version.split(".")[:2])
    if not named or feature in named:
        return None
    return sorted(named)[0]
