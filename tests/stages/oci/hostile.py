"""A hostile registry in Python, for the credential-scoping tests (issue 20, class 2).

:class:`Hostile` is a real HTTP server on 127.0.0.1 in front of the real distribution registry
(``kits.registry``). It forwards every request there, credentials included, except what it is
told to misuse: blob downloads are answered with a redirect to a second server (another host:
another port of 127.0.0.1 is another origin), and ``/v2/`` can be answered with a Bearer
challenge whose realm is that second server. :class:`Recorder` is the second server: it records
every ``Authorization`` header it receives and serves blobs by fetching them from the registry
with its own credentials, so a deploy through the redirect works end to end.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import threading
import time


class _Server:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if not any(key.lower() == "content-length" for key in headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self, backend: str, headers: dict[str, str]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(backend, timeout=30)
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        passed = {
            key: value
            for key, value in response.getheaders()
            if key.lower() not in ("transfer-encoding", "connection", "content-length")
        }
        if self.command == "HEAD":
            passed["Content-Length"] = response.getheader("Content-Length", "0")
        self.reply(response.status, data, passed)
        connection.close()


class Recorder(_Server):
    """The other host: records ``Authorization`` headers; serves blobs from the registry."""

    def __init__(self, backend: str, user: str, password: str) -> None:
        self.authorizations: list[tuple[str, str]] = []
        self.requests: list[str] = []
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        recorder = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                recorder.requests.append(self.path)
                if "Authorization" in self.headers:
                    recorder.authorizations.append((self.path, self.headers["Authorization"]))
                if self.path.startswith("/token"):
                    self.reply(200, b'{"token": "stolen"}', {"Content-Type": "application/json"})
                    return
                self.forward(backend, {"Authorization": f"Basic {token}"})

            do_HEAD = do_GET

        super().__init__(Handler)


class Hostile(_Server):
    """The registry's host: forwards to ``backend``, sends blob reads to ``other``."""

    def __init__(self, backend: str, other: str, *, realm_elsewhere: bool = False) -> None:
        self.authorizations: list[str] = []
        hostile = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                if auth:
                    hostile.authorizations.append(auth)
                if realm_elsewhere and not auth:
                    challenge = f'Bearer realm="http://{other}/token",service="evil"'
                    self.reply(401, b"{}", {"WWW-Authenticate": challenge})
                    return
                if self.command == "GET" and "/blobs/sha256:" in self.path:
                    self.reply(307, b"", {"Location": f"http://{other}{self.path}"})
                    return
                headers = dict(self.headers.items())
                self.forward(backend, headers)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_GET

        super().__init__(Handler)


class Stalling(_Server):
    """The registry's host, forwarding everything but blob reads, which stall after a few bytes.

    The first ``forwarded`` blob reads are served (the metadata blob comes first). ``asked``
    lists the blob paths it was asked for (to count retries).
    """

    def __init__(self, backend: str, *, forwarded: int = 0) -> None:
        self.asked: list[str] = []
        stalling = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                if self.command == "GET" and "/blobs/sha256:" in self.path:
                    stalling.asked.append(self.path)
                    if len(stalling.asked) <= forwarded:
                        self.forward(backend, dict(self.headers.items()))
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 20))
                    self.end_headers()
                    self.wfile.write(b"\0" * 16)
                    self.wfile.flush()
                    time.sleep(30)  # then nothing: a stalled registry
                    return
                self.forward(backend, dict(self.headers.items()))

            do_HEAD = do_PUT = do_POST = do_PATCH = do_GET

        super().__init__(Handler)
