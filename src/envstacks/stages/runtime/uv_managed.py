"""The uv-managed runtime provider: python-build-standalone through ``uv python install``.

Interpreters are installed into envstacks' own cache (``<cache>/uv-python``), never into
the user's uv folder or ``~/.local/bin``, and then adopted into the runtime layer
(:mod:`envstacks.stages.runtime.adopt`). Under ``auto`` this provider is tried before the local
one but steps aside at once when it cannot download:
offline mode, no download known for the version, or a download host that does not accept
a TCP connection within a second or two. A ``file://`` mirror or downloads JSON is always
usable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from envstacks.floor import proc, uvrun
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import Reporter
from envstacks.stages.runtime.adopt import AdoptingProvider, Found, judge
from envstacks.stages.runtime.contract import RuntimeProvider, RuntimeRequest
from envstacks.stages.runtime.paths import uv_install_dir

__all__ = ["NAME", "PROBE_TIMEOUT", "UvManagedProvider", "reachability_problem", "uv_target"]

NAME = "uv-managed"
#: Seconds to wait for a TCP connection to the download host before giving up on it.
PROBE_TIMEOUT = 1.5

_DEFAULT_PORTS = {"https": 443, "http": 80}


def uv_target(request: RuntimeRequest) -> str:
    """The request in uv's syntax (``cpython-3.12.1``)."""
    return f"{request.implementation}-{request.version}"


def _uv_settings_args(request: RuntimeRequest) -> list[str]:
    args = []
    if request.python_install_mirror:
        args += ["--mirror", request.python_install_mirror]
    if request.python_downloads_json_url:
        args += ["--python-downloads-json-url", request.python_downloads_json_url]
    return args


def _uv_env(install_dir: Path) -> dict[str, str | None]:
    return {
        # uvrun forbids interpreter downloads by default; this call exists to make one.
        "UV_PYTHON_DOWNLOADS": "manual",
        "UV_PYTHON_INSTALL_DIR": os.fspath(install_dir),
        # Mirror and downloads JSON are passed as options, already resolved (environment
        # first, then the stack's uv settings).
        "UV_PYTHON_INSTALL_MIRROR": None,
        "UV_PYTHON_DOWNLOADS_JSON_URL": None,
    }


def _python_list(
    request: RuntimeRequest,
    which: str,
    extra: list[str],
    *,
    reporter: Reporter,
    what: str,
    env: dict[str, str | None],
    cwd: Path | None = None,
) -> list[dict[str, Any]] | None:
    """``uv python list <target> <which> --output-format json``; ``None`` when uv fails."""
    result = uvrun.run_uv(
        # --managed-python: only uv's own installations and downloads, never the machine's
        # Pythons; --no-config: the user's uv.toml must not redirect anything.
        [
            "python",
            "list",
            uv_target(request),
            which,
            "--managed-python",
            "--output-format",
            "json",
            "--no-config",
            *extra,
        ],
        reporter=reporter,
        what=what,
        cwd=cwd,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        return None
    try:
        entries = json.loads(result.stdout or "[]")
    except ValueError:
        return None
    return [entry for entry in entries if isinstance(entry, dict)]


def installed_python(request: RuntimeRequest, install_dir: Path, reporter: Reporter) -> Path | None:
    """The newest interpreter in ``install_dir`` that satisfies the request, if any."""
    if not install_dir.is_dir():
        return None
    entries = _python_list(
        request,
        "--only-installed",
        [],
        reporter=reporter,
        what=f"list the Pythons installed in {install_dir}",
        cwd=install_dir,
        env=_uv_env(install_dir),
    )
    # uv prints paths relative to its working folder.
    found = [
        (tuple(entry.get("version_parts", {}).values()), install_dir / entry["path"])
        for entry in entries or []
        if entry.get("path")
    ]
    return max(found)[1] if found else None


def _download_url(request: RuntimeRequest, reporter: Reporter) -> str | None:
    """The URL uv would download the request from, or None if it knows of none."""
    json_url = request.python_downloads_json_url
    entries = _python_list(
        request,
        "--only-downloads",
        ["--python-downloads-json-url", json_url] if json_url else [],
        reporter=reporter,
        what=f"list the downloads of {uv_target(request)}",
        env=_uv_env(uv_install_dir(request.cache_dir)),
    )
    urls = [str(entry["url"]) for entry in entries or [] if entry.get("url")]
    return urls[0] if urls else None


def reachability_problem(url: str, *, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why ``url`` cannot be downloaded now (a quick TCP probe), or None if it probably can.

    Local files (``file://``, plain paths) are always reachable; through a proxy from the
    environment, the proxy is probed instead of the host.
    """
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]
    import urllib.request  # noqa: PLC0415 - 20 ms to import; only this probe needs it

    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxy_parts.hostname:
            host, port = proxy_parts.hostname, proxy_parts.port or 80
    try:
        import socket  # noqa: PLC0415 - only this probe needs it

        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"


def _download_problem(request: RuntimeRequest, reporter: Reporter) -> str | None:
    """Why a download cannot happen now, or None (decided quickly, without uv's retries)."""
    if request.offline:
        return "offline mode (UV_OFFLINE or the stack's uv setting offline = true)"
    if request.python_install_mirror:
        return reachability_problem(request.python_install_mirror)
    url = _download_url(request, reporter)
    if url is None:
        where = request.python_downloads_json_url or "uv's list of python-build-standalone builds"
        return f"no download of {uv_target(request)} for this platform in {where}"
    return reachability_problem(url)


def _install(request: RuntimeRequest, install_dir: Path, reporter: Reporter) -> str | None:
    """Run ``uv python install``; return the failure (last lines of uv's output) or None."""
    install_dir.mkdir(parents=True, exist_ok=True)
    with reporter.task(request.layer, "download runtime") as task:
        task.note(uv_target(request))
        result = uvrun.run_uv(
            [
                "python",
                "install",
                uv_target(request),
                # The user's uv.toml must not change where or what is installed.
                "--no-config",
                "--install-dir",
                install_dir,
                # No python3.X links in ~/.local/bin: the install is envstacks' private cache.
                "--no-bin",
                *_uv_settings_args(request),
            ],
            reporter=reporter,
            what=f"install {uv_target(request)}",
            env=_uv_env(install_dir),
            check=False,
        )
    if result.returncode == 0:
        return None
    return proc.tail(result.stderr or result.stdout, lines=3).replace("\n", " | ")


def _obtain(
    request: RuntimeRequest, install_dir: Path, reporter: Reporter
) -> tuple[Path, str] | None:
    """The interpreter in ``install_dir``, installed first if need be, and how it came there.

    Returns None (after logging why) when it is not there and cannot be installed now.

    Raises:
        EnvStacksError: uv could not be run.
    """
    python = installed_python(request, install_dir, reporter)
    if python is not None:
        return python, f"already in {install_dir}"
    problem = _download_problem(request, reporter)
    if problem is not None:
        request.log(NAME, f"skipped: {problem}; {uv_target(request)} not in {install_dir}")
        return None
    failure = _install(request, install_dir, reporter)
    if failure is not None:
        request.log(NAME, f"uv python install {uv_target(request)} failed: {failure}")
        return None
    python = installed_python(request, install_dir, reporter)
    if python is None:
        request.log(NAME, f"uv installed {uv_target(request)} but does not list it")
        return None
    source = (
        request.python_downloads_json_url
        or request.python_install_mirror
        or "python-build-standalone"
    )
    return python, f"uv python install from {source}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UvManagedProvider(AdoptingProvider):
    """The ``uv-managed`` runtime provider: a python-build-standalone build installed by uv."""

    name: str = NAME

    def find(self, request: RuntimeRequest, reporter: Reporter) -> Found | None:
        """The requested build in envstacks' cache, installed there by uv first if need be."""
        if request.platform != host_platform():
            request.log(
                NAME, f"skipped: uv installs interpreters for this machine, not {request.platform}"
            )
            return None
        try:
            obtained = _obtain(request, uv_install_dir(request.cache_dir), reporter)
        except EnvStacksError as exc:
            request.log(NAME, f"uv failed: {exc.message.splitlines()[0]}")
            return None
        if obtained is None:
            return None
        python, how = obtained
        info = judge(python, request, provider=NAME, reporter=reporter)
        return None if info is None else Found(info=info, source=f"{info.prefix} ({how})")


# trylast: a third-party provider named "uv-managed" is asked first, so it replaces this one.
@hookimpl(trylast=True)
def envstacks_runtime_providers() -> tuple[RuntimeProvider, ...]:
    """The uv-managed provider."""
    return (UvManagedProvider(),)
