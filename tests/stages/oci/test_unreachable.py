"""A registry that does not answer: the hint fits the cause (a name, a port, plain HTTP).

Real sockets on this machine: a host name under ``.invalid`` (which never resolves, RFC
2606), a closed port, and a plain-HTTP server reached over HTTPS.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from envstacks.floor.errors import RegistryError
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.reference import parse_reference


def _unreachable(url: str) -> RegistryError:
    client = RegistryClient(parse_reference(url), push=False)
    with pytest.raises(RegistryError) as caught:
        client.base_url()
    return caught.value


def test_a_host_name_that_does_not_resolve_says_to_check_the_name_not_insecure() -> None:
    error = _unreachable("oci://no-such-registry.invalid/stack:1")
    assert error.message.startswith(
        "registry no-such-registry.invalid: its host name does not resolve"
    )
    assert error.hint == (
        "check the registry's host name for a typo, and this machine's network and DNS"
    )


def test_a_closed_port_says_to_check_the_port_and_the_registry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    error = _unreachable(f"oci://127.0.0.1:{port}/stack:1")
    assert "cannot connect" in error.message
    assert error.hint is not None and "--insecure" not in error.hint
    assert error.hint.startswith("check the host name and port, that the registry is running")


def _outward_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = str(udp.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_away_from_this_machine_hints_insecure(plain_http_server: int) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    error = _unreachable(f"oci://{address}:{plain_http_server}/stack:1")
    assert error.hint == (
        f"if {address}:{plain_http_server} serves plain HTTP (a test registry), pass --insecure"
    )
