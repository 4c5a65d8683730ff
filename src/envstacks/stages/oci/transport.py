"""HTTP for registries: pooled keep-alive connections through urllib3, proxies from the environment.

urllib3 is the ``envstacks[oci]`` extra; :func:`load_urllib3` says how to install it when it
is missing. Connections are reused across the many small requests a push or deploy makes
(``HEAD`` per blob, token requests). Redirects are not followed here: the client follows those
of blob and manifest reads itself, without credentials
(:meth:`envstacks.stages.oci.client.RegistryClient.request`). A server that sends nothing for
``ENVSTACKS_HTTP_TIMEOUT`` seconds (60 by default) fails the request.
``HTTP(S)_PROXY`` and ``NO_PROXY`` are honoured as ``curl`` and ``pip`` honour them; a
registry on this machine is always reached directly.
"""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from types import ModuleType
from typing import TYPE_CHECKING, Any

from envstacks.floor.env_settings import http_timeout
from envstacks.floor.errors import MissingExtraError

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse, PoolManager

#: Seconds to wait for a connection (the wait for the next bytes of an answer is
#: ``ENVSTACKS_HTTP_TIMEOUT``).
CONNECT_TIMEOUT = 30.0
USER_AGENT = "envstacks (oci)"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def load_urllib3() -> ModuleType:
    """The urllib3 module.

    Raises:
        MissingExtraError: the ``envstacks[oci]`` extra is not installed.
    """
    try:
        import urllib3  # noqa: PLC0415 - the optional extra, loaded only for registry work
    except ImportError as exc:
        raise MissingExtraError(
            "publishing to and deploying from OCI registries (oci://) needs the 'oci' extra "
            "of envstacks (the urllib3 package), which is not installed",
            hint="install it: pip install 'envstacks[oci]' (uv: uv tool install "
            "'envstacks[oci]'; PDM: pdm self add 'envstacks[oci]'; Hatch build target: "
            'dependencies = ["envstacks[oci]"] in [tool.hatch.build.targets.venvstacks])',
        ) from exc
    return urllib3


class Transport:
    """Sends requests through one pool per proxy (or none); safe to share between threads."""

    def __init__(self) -> None:
        self._urllib3 = load_urllib3()
        self._lock = threading.Lock()
        self._pools: dict[str | None, PoolManager] = {}
        #: The exceptions a failed connection or transfer raises (retried by the client).
        self.errors: tuple[type[BaseException], ...] = (self._urllib3.exceptions.HTTPError,)
        #: The exception of a server that stalled (sent nothing for :attr:`read_timeout`).
        self.stalled: type[BaseException] = self._urllib3.exceptions.ReadTimeoutError
        #: Why a connection failed: the host name does not resolve, or TLS failed.
        self.unresolved: type[BaseException] = self._urllib3.exceptions.NameResolutionError
        self.tls_failed: type[BaseException] = self._urllib3.exceptions.SSLError
        #: Seconds an answer may stay silent (``None``: no bound).
        self.read_timeout = http_timeout()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: Any = None,
        stream: bool = False,
    ) -> BaseHTTPResponse:
        """Send one request; the body is read unless ``stream`` (a redirect is an answer)."""
        retries = self._urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=0, raise_on_status=False
        )
        response: BaseHTTPResponse = self._pool(url).request(
            method,
            url,
            headers={"User-Agent": USER_AGENT, **headers},
            body=body,
            preload_content=not stream,
            retries=retries,
            redirect=False,
        )
        return response

    def _pool(self, url: str) -> PoolManager:
        proxy = _proxy_for(url)
        with self._lock:
            pool = self._pools.get(proxy)
            if pool is None:
                timeout = self._urllib3.Timeout(connect=CONNECT_TIMEOUT, read=self.read_timeout)
                options = {"num_pools": 8, "maxsize": 8, "timeout": timeout, "blocksize": 1 << 16}
                if proxy is None:
                    pool = self._urllib3.PoolManager(**options)
                else:
                    pool = self._urllib3.ProxyManager(proxy, **options)
                self._pools[proxy] = pool
            return pool


def _proxy_for(url: str) -> str | None:
    """The proxy URL for ``url`` from the environment (``None``: connect directly)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if host in _LOOPBACK or host.startswith("127."):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy
