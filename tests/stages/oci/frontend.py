"""A token-auth front-end for the test registry, standing in for GHCR's or Docker Hub's.

Hosted registries cannot be reached from here, and the distribution registry's own token
mode needs a separate signing token server, so this small proxy plays their part in front
of the real registry: it answers ``/v2/`` requests without a token with ``401`` and a
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` challenge, runs the token
service at ``/token`` (Basic credentials, or anonymous with pull access only), refuses
actions a token does not grant with ``403 DENIED``, and can be told to answer some requests
with a canned status first (``429`` with ``Retry-After``, ``400 MANIFEST_INVALID``). With
``preconditions``, it honours ``If-Match`` and ``If-None-Match`` on manifest writes (``412``
when the tag is not the one named), as a registry with conditional writes would; the
distribution registry ignores them. Every other request is forwarded to the real registry
unchanged.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

_REPO = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags)/")


@dataclass
class Rule:
    """Answer the next ``times`` requests that ``matches`` selects with ``status``."""

    matches: Callable[[str, str], bool]
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Frontend:
    """The proxy: its address, users, issued tokens and the requests it saw."""

    def __init__(self, backend: str, users: dict[str, tuple[str, set[str]]]) -> None:
        self.backend = backend
        #: user -> (password, actions granted: {"pull"}, {"pull", "push"})
        self.users = users
        self.tokens: dict[str, set[str]] = {}
        self.rules: list[Rule] = []
        self.token_requests: list[tuple[str | None, str]] = []
        self.seen: list[tuple[str, str, int]] = []
        #: Honour If-Match / If-None-Match on manifest PUTs (a registry with conditional writes).
        self.preconditions = False
        #: Manifest PUTs refused with 412.
        self.refused_writes = 0
        self._lock = threading.Lock()
        self._writes = threading.Lock()
        handler = type("Handler", (_Handler,), {"frontend": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, repository: str, tag: str = "v1") -> str:
        return f"oci://{self.host}/{repository}:{tag}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def take_rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.matches(method, path):
                    rule.times -= 1
                    return rule
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    frontend: Frontend
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_any()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        if path.startswith("/token"):
            self.token(path)
            return
        rule = self.frontend.take_rule(self.command, path)
        if rule is not None:
            self.reply(rule.status, rule.body, rule.headers)
            return
        needed = "pull" if self.command in ("GET", "HEAD") else "push"
        match = _REPO.match(path)
        auth = self.headers.get("Authorization", "")
        granted = self.frontend.tokens.get(auth.removeprefix("Bearer ")) if auth else None
        if granted is None:
            scope = f"repository:{match.group(1)}:pull,push" if match else ""
            challenge = f'Bearer realm="http://{self.frontend.host}/token",service="frontend"'
            if scope:
                challenge += f',scope="{scope}"'
            self.reply(
                401,
                _errors("UNAUTHORIZED", "authentication required"),
                {"WWW-Authenticate": challenge},
            )
            return
        if match and f"{match.group(1)}:{needed}" not in granted:
            self.reply(403, _errors("DENIED", f"requested access to {needed} is denied"))
            return
        if self.frontend.preconditions and self.command == "PUT" and "/manifests/" in path:
            with self.frontend._writes:  # the check and the write as one step, as a registry's
                if not self.precondition_holds(path):
                    self.frontend.refused_writes += 1
                    self.reply(412, _errors("PRECONDITION_FAILED", "the tag changed"))
                    return
                self.forward(body)
            return
        self.forward(body)

    def precondition_holds(self, path: str) -> bool:
        """Whether the manifest at ``path`` is what ``If-Match`` / ``If-None-Match`` name."""
        connection = http.client.HTTPConnection(self.frontend.backend, timeout=30)
        accept = (
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
        )
        connection.request("HEAD", path, headers={"Accept": accept})
        response = connection.getresponse()
        response.read()
        connection.close()
        etag = (
            f'"{response.getheader("Docker-Content-Digest")}"' if response.status == 200 else None
        )
        if self.headers.get("If-None-Match") == "*" and etag is not None:
            return False
        wanted = self.headers.get("If-Match")
        return wanted is None or (etag is not None and wanted in (etag, "*"))

    def token(self, path: str) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            known = self.frontend.users.get(user)
            if known is None or known[0] != password:
                self.reply(401, b'{"details":"incorrect username or password"}')
                return
        self.frontend.token_requests.append((user, " ".join(query.get("scope", []))))
        granted: set[str] = set()
        actions = self.frontend.users[user][1] if user else {"pull"}
        for scope in query.get("scope", []):
            _, repo, wanted = scope.split(":")
            granted |= {f"{repo}:{a}" for a in wanted.split(",") if a in actions}
        token = secrets.token_hex(16)
        self.frontend.tokens[token] = granted
        self.reply(200, json.dumps({"token": token, "expires_in": 300}).encode())

    def forward(self, body: bytes) -> None:
        connection = http.client.HTTPConnection(self.frontend.backend, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization",)}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self.frontend.seen.append((self.command, self.path, response.status))
        head = self.command == "HEAD"  # a HEAD answer's Content-Length is the blob's size
        passed = {
            k: v
            for k, v in response.getheaders()
            if k.lower() not in ("transfer-encoding", "connection")
            and (head or k.lower() != "content-length")
        }
        self.reply(response.status, data, passed)
        connection.close()

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(body))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()
