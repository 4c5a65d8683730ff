"""Credentials and refusals against real registries: htpasswd (Basic) and a token front-end.

The htpasswd registry is the distribution registry itself. The Bearer token flow, ``403``,
``429`` and a registry refusing OCI artifacts are played by ``frontend.py`` in front of the
real registry (hosted registries cannot be reached from the test machines).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from envstacks.floor.errors import RegistryAuthError, RegistryError
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.oci import PushOptions
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.push_folder import push_publish_folder
from envstacks.stages.oci.reference import parse_reference

from .conftest import PASSWORD, USER
from .frontend import Frontend, Rule


def push(output: Path, url: str, **kw):
    return push_publish_folder(
        output,
        PushOptions(target=url, insecure=kw.pop("insecure", False)),
        platforms=(host_platform(),),
        merge=False,
        reporter=RecordingReporter(),
        **kw,
    )


def docker_config(home: Path, data: dict) -> Path:
    path = home / ".docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_htpasswd_registry_without_credentials_says_how_to_log_in(
    tmp_path, publish_layers_to, auth_registry
):
    output = publish_layers_to(tmp_path / "dist")
    with pytest.raises(RegistryAuthError, match="wants credentials") as caught:
        push(output, auth_registry.url("stack"))
    assert f"docker login {auth_registry.host}" in (caught.value.hint or "")
    assert "ENVSTACKS_OCI_USERNAME" in (caught.value.hint or "")


def test_bad_password_is_refused_naming_where_it_came_from(
    tmp_path, publish_layers_to, auth_registry, monkeypatch, pm
):
    output = publish_layers_to(tmp_path / "dist")
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", USER)
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "wrong")
    with pytest.raises(RegistryAuthError, match=r"refused the credentials from \$ENVSTACKS_OCI"):
        push(output, auth_registry.url("stack"))
    with pytest.raises(RegistryAuthError, match="refused the credentials"):
        deploy(auth_registry.url("stack"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    monkeypatch.delenv("ENVSTACKS_OCI_PASSWORD")
    with pytest.raises(RegistryAuthError, match="ENVSTACKS_OCI_USERNAME is set but"):
        push(output, auth_registry.url("stack"))


def test_environment_credentials_push_and_deploy(
    tmp_path, publish_layers_to, auth_registry, monkeypatch, pm
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", USER)
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", PASSWORD)
    output = publish_layers_to(tmp_path / "dist")
    push(output, auth_registry.url("stack"))
    result = deploy(auth_registry.url("stack"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert len(result.installed) == 4


def test_docker_config_auths_entry(tmp_path, publish_layers_to, auth_registry, pm):
    docker_config(
        Path(os.environ["HOME"]), {"auths": {auth_registry.host: {"auth": basic(USER, PASSWORD)}}}
    )
    output = publish_layers_to(tmp_path / "dist")
    push(output, auth_registry.url("stack"))
    assert (
        len(
            deploy(
                auth_registry.url("stack"), tmp_path / "t", pm=pm, reporter=RecordingReporter()
            ).installed
        )
        == 4
    )


def test_podman_auth_file_with_a_namespace_key(
    tmp_path, publish_layers_to, auth_registry, monkeypatch
):
    auth_file = tmp_path / "auth.json"
    # The longest matching key wins: the namespace entry, not the host's (wrong) one.
    auth_file.write_text(
        json.dumps(
            {
                "auths": {
                    auth_registry.host: {"auth": basic(USER, "wrong")},
                    f"{auth_registry.host}/team": {"auth": basic(USER, PASSWORD)},
                }
            }
        )
    )
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    push(publish_layers_to(tmp_path / "dist"), auth_registry.url("team/stack"))
    with pytest.raises(RegistryAuthError, match=r"auths\["):
        push(publish_layers_to(tmp_path / "dist2"), auth_registry.url("other/stack"))


@pytest.mark.parametrize("where", ["credHelpers", "credsStore"])
def test_credential_helper(tmp_path, publish_layers_to, auth_registry, monkeypatch, where):
    """A real ``docker-credential-<name>`` program on PATH answers for the registry."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-envtest"
    log = tmp_path / "helper.log"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        f"if server != {auth_registry.host!r}:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        f"answer = {{'ServerURL': server, 'Username': {USER!r}, 'Secret': {PASSWORD!r}}}\n"
        "print(json.dumps(answer))\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = (
        {"credHelpers": {auth_registry.host: "envtest"}}
        if where == "credHelpers"
        else {"auths": {auth_registry.host: {}}, "credsStore": "envtest"}
    )
    docker_config(Path(os.environ["HOME"]), config)
    push(publish_layers_to(tmp_path / "dist"), auth_registry.url("stack"))
    assert log.read_text().splitlines()[0] == f"get {auth_registry.host}"


def test_missing_credential_helper_is_named(tmp_path, publish_layers_to, auth_registry):
    docker_config(Path(os.environ["HOME"]), {"credsStore": "nonexistent-helper"})
    with pytest.raises(RegistryAuthError, match="docker-credential-nonexistent-helper"):
        push(publish_layers_to(tmp_path / "dist"), auth_registry.url("stack"))


@pytest.fixture
def frontend(registry):
    server = Frontend(
        registry.host,
        users={"writer": ("write-pass", {"pull", "push"}), "reader": ("read-pass", {"pull"})},
    )
    yield server
    server.stop()


def test_bearer_token_flow_push_and_anonymous_pull(
    tmp_path, publish_layers_to, frontend, monkeypatch, pm
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "write-pass")
    push(publish_layers_to(tmp_path / "dist"), frontend.url("team/stack"))
    assert frontend.token_requests[0] == ("writer", "repository:team/stack:pull,push")
    # One token serves every request of the push (asked for once, not per blob).
    assert len(frontend.token_requests) == 1

    monkeypatch.delenv("ENVSTACKS_OCI_USERNAME")
    monkeypatch.delenv("ENVSTACKS_OCI_PASSWORD")
    result = deploy(frontend.url("team/stack"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert len(result.installed) == 4
    assert frontend.token_requests[-1] == (None, "repository:team/stack:pull,push")


def test_token_service_refuses_a_bad_password(tmp_path, publish_layers_to, frontend, monkeypatch):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "nope")
    with pytest.raises(RegistryAuthError, match=r"token service .* answered HTTP 401"):
        push(publish_layers_to(tmp_path / "dist"), frontend.url("stack"))


def test_read_only_credentials_get_403_with_a_hint(
    tmp_path, publish_layers_to, frontend, monkeypatch
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "reader")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "read-pass")
    with pytest.raises(RegistryAuthError, match=r"denied .HTTP 403; DENIED") as caught:
        push(publish_layers_to(tmp_path / "dist"), frontend.url("stack"))
    assert "may not push to stack" in (caught.value.hint or "")


def test_registry_token_from_the_environment_is_sent_as_is(
    tmp_path, publish_layers_to, frontend, monkeypatch
):
    frontend.tokens["static-token"] = {"stack:pull", "stack:push"}
    monkeypatch.setenv("ENVSTACKS_OCI_TOKEN", "static-token")
    push(publish_layers_to(tmp_path / "dist"), frontend.url("stack"))
    assert frontend.token_requests == []
    frontend.tokens.clear()
    with pytest.raises(
        RegistryAuthError, match=r"refused the credentials from \$ENVSTACKS_OCI_TOKEN"
    ):
        push(publish_layers_to(tmp_path / "dist2"), frontend.url("stack"))


def test_429_is_retried_after_retry_after_then_reported(
    tmp_path, publish_layers_to, frontend, monkeypatch, pm
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "write-pass")
    output = publish_layers_to(tmp_path / "dist")
    too_many = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limit"}]}'
    frontend.rules.append(
        Rule(lambda m, p: m == "HEAD", 429, times=2, headers={"Retry-After": "0"}, body=too_many)
    )
    push(output, frontend.url("stack"))  # two 429s, then it goes through
    assert frontend.rules[0].times == 0

    frontend.rules.append(
        Rule(
            lambda m, p: "/manifests/" in p,
            429,
            times=99,
            headers={"Retry-After": "0"},
            body=too_many,
        )
    )
    with pytest.raises(
        RegistryError, match=r"too many requests .HTTP 429; TOOMANYREQUESTS"
    ) as caught:
        deploy(frontend.url("stack"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert caught.value.status == 429


def test_registry_refusing_oci_artifacts_is_explained(
    tmp_path, publish_layers_to, frontend, monkeypatch
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "write-pass")
    invalid = b'{"errors":[{"code":"MANIFEST_INVALID","message":"unknown media type"}]}'
    frontend.rules.append(Rule(lambda m, p: m == "PUT" and "/manifests/" in p, 400, body=invalid))
    with pytest.raises(RegistryError, match="refused an OCI artifact") as caught:
        push(publish_layers_to(tmp_path / "dist"), frontend.url("stack"))
    assert "distribution 2.7" in (caught.value.hint or "")


def test_not_a_registry(tmp_path, publish_layers_to):
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"oci://127.0.0.1:{server.server_address[1]}/stack:v1"
        with pytest.raises(RegistryError, match="not an OCI registry"):
            push(publish_layers_to(tmp_path / "dist"), url)
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_needs_insecure_for_a_registry_not_named_as_local(
    tmp_path, publish_layers_to, registry
):
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = ""
    if not address.startswith("127.") or name in ("localhost",):
        pytest.skip(f"this machine's name {name!r} does not resolve to a loopback address")
    url = f"oci://{name}:{registry.port}/stack:v1"
    assert not parse_reference(url).is_loopback
    output = publish_layers_to(tmp_path / "dist")
    with pytest.raises(RegistryError, match="cannot connect") as caught:
        push(output, url)
    assert "--insecure" in (caught.value.hint or "")
    result = push(output, url, insecure=True)
    assert result.platforms == (host_platform(),)
    client = RegistryClient(parse_reference(url), push=False, insecure=True)
    assert client.base_url().startswith("http://")


BLOB_UNKNOWN = (
    b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded '
    b'content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
)


def _image_puts(method: str, path: str) -> bool:
    return method == "PUT" and "/manifests/sha256:" in path


def test_a_manifest_naming_a_blob_the_registry_does_not_see_yet_is_stored_again(
    tmp_path, publish_layers_to, frontend, monkeypatch
):
    """The distribution registry's answer when a concurrent push rewrites a blob's link.

    The front-end answers the first image manifest write as the registry did in that race
    (seen in CI with two platforms pushed to one repository at once); the push checks its
    blobs and writes the manifest again.
    """
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "write-pass")
    monkeypatch.setattr("envstacks.stages.oci.push_folder.time.sleep", lambda _s: None)
    frontend.rules.append(Rule(_image_puts, 400, body=BLOB_UNKNOWN))
    reporter = RecordingReporter()
    result = push_publish_folder(
        publish_layers_to(tmp_path / "dist"),
        PushOptions(target=frontend.url("stack")),
        platforms=(host_platform(),),
        merge=False,
        reporter=reporter,
    )
    assert result.manifests[host_platform()].startswith("sha256:")
    assert any("does not know a blob" in line for line in reporter.texts("warning"))
    image_writes = [seen for seen in frontend.seen if _image_puts(seen[0], seen[1])]
    assert [status for *_, status in image_writes] == [201]  # the refusal never reached it


def test_a_blob_the_registry_never_sees_ends_the_push_with_its_answer(
    tmp_path, publish_layers_to, frontend, monkeypatch
):
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", "writer")
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", "write-pass")
    monkeypatch.setattr("envstacks.stages.oci.push_folder.time.sleep", lambda _s: None)
    frontend.rules.append(Rule(_image_puts, 400, times=10, body=BLOB_UNKNOWN))
    with pytest.raises(RegistryError, match="MANIFEST_BLOB_UNKNOWN"):
        push(publish_layers_to(tmp_path / "dist"), frontend.url("stack"))
    assert frontend.rules[0].times == 10 - 4  # the first write and three more
