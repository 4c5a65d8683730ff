"""A real CNCF distribution registry (Debian's ``docker-registry``) for tests, on 127.0.0.1.

Each :class:`Registry` runs ``docker-registry serve CONFIG`` with its own storage folder, a
free port and, if asked, htpasswd (bcrypt) authentication. Its access log tells which requests
reached it, its storage folder which blobs it holds, so tests prove what was uploaded and
downloaded from the registry's side, not only from what the client says.

With ``ENVSTACKS_REQUIRE_REGISTRY=1`` a missing registry is a failure, not a skip: ``.ci/run``
installs it (``apt-get install docker-registry apache2-utils``) and sets the variable.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BINARY = "docker-registry"
INSTALL = "apt-get install docker-registry apache2-utils"

CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: envstacks-tests
{auth}"""
AUTH = """\
auth:
  htpasswd:
    realm: envstacks-tests
    path: {htpasswd}
"""
_REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')


#: Set by .ci/run after installing the registry: a missing registry is then a failure.
REQUIRED_ENV_VAR = "ENVSTACKS_REQUIRE_REGISTRY"


def registry_binary() -> str:
    """The registry program; fail (when required) or skip (elsewhere) when it is not installed."""
    found = shutil.which(BINARY)
    if found is not None:
        return found
    if _required():
        pytest.fail(f"the registry tests need {BINARY!r} on PATH: {INSTALL}")
    pytest.skip(f"{BINARY} is not installed ({REQUIRED_ENV_VAR}=1 makes this fail): {INSTALL}")


def _required() -> bool:
    """Whether a missing registry fails the tests (.ci/run installs it and sets this)."""
    return os.environ.get(REQUIRED_ENV_VAR, "") not in ("", "0")


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (the only hash the registry accepts)."""
    program = shutil.which("htpasswd")
    if program is not None:
        return subprocess.run(
            [program, "-nbB", user, password], capture_output=True, text=True, check=True
        ).stdout.strip()
    try:
        import bcrypt
    except ImportError:
        if _required():
            pytest.fail(f"the auth tests need htpasswd (apache2-utils) or bcrypt: {INSTALL}")
        pytest.skip("neither htpasswd (apache2-utils) nor the bcrypt package is installed")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    return f"{user}:{hashed}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """One running registry: its address, storage and access log."""

    def __init__(self, root: Path, *, users: dict[str, str] | None = None) -> None:
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True)
        self.log = root / "registry.log"
        self.port = free_port()
        auth = ""
        if users:
            htpasswd = root / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
            auth = AUTH.format(htpasswd=htpasswd)
        config = root / "config.yml"
        config.write_text(CONFIG.format(storage=self.storage, port=self.port, auth=auth))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [registry_binary(), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, repository: str, tag: str = "v1") -> str:
        return f"oci://{self.host}/{repository}:{tag}"

    def _wait(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the registry exited:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # 401: running, with auth
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the registry did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # -- what the registry saw and holds ------------------------------------------------------

    def requests(self) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every request in the access log so far."""
        text = self.log.read_text(errors="replace")
        return [(m, p, int(s)) for m, p, s in _REQUEST.findall(text)]

    def mark(self) -> int:
        """How many requests were logged so far (to look only at later ones)."""
        return len(self.requests())

    def blob_gets(self, since: int = 0) -> list[str]:
        """Digests of the blobs fully or partly downloaded (GET 200/206) after ``since``."""
        return [
            path.rsplit("/", 1)[-1]
            for method, path, status in self.requests()[since:]
            if method == "GET" and "/blobs/sha256:" in path and status in (200, 206)
        ]

    def blob_uploads(self, since: int = 0) -> list[str]:
        """Digests of the blobs whose upload was completed (PUT 201) after ``since``."""
        return [
            re.sub(r".*[?&]digest=([^&]+).*", r"\1", path).replace("%3A", ":")
            for method, path, status in self.requests()[since:]
            if method == "PUT" and "/blobs/uploads/" in path and status == 201
        ]

    def stored_blobs(self) -> set[str]:
        """Digests of every blob in the storage folder."""
        root = self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
        if not root.is_dir():
            return set()
        return {f"sha256:{path.parent.name}" for path in root.glob("*/*/data")}

    def blob_file(self, digest: str) -> Path:
        """The storage file of a blob (edit it to tamper with what the registry serves)."""
        hexdigest = digest.removeprefix("sha256:")
        root = self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
        return root / hexdigest[:2] / hexdigest / "data"
