"""Credentials go only to the registry's own host (issue 20, class 2), against a hostile registry.

A hostile registry in Python (``hostile.py``) stands in front of the real distribution
registry with htpasswd credentials: it redirects blob downloads to a second server, or names a
token realm on that server, which records every ``Authorization`` header it receives. Docker
and containerd scope credentials this way (containerd CVE-2020-15157): a redirected blob
download carries none, a realm on another host gets them only over HTTPS, and no secret is
ever part of a message.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, RegistryAuthError, RegistryError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.oci.credentials import find_credentials

from .conftest import PASSWORD, USER
from .hostile import Hostile, Recorder, Stalling
from .test_registry_auth import push


@pytest.fixture
def pushed(tmp_path, publish_layers_to, auth_registry, monkeypatch):
    """A real publish pushed to the real htpasswd registry; the client's credentials set."""
    monkeypatch.setenv("ENVSTACKS_OCI_USERNAME", USER)
    monkeypatch.setenv("ENVSTACKS_OCI_PASSWORD", PASSWORD)
    output = publish_layers_to(tmp_path / "dist")
    push(output, auth_registry.url("stack"))
    return auth_registry


def test_redirected_blob_downloads_carry_no_credentials(tmp_path, pushed, pm):
    recorder = Recorder(pushed.host, USER, PASSWORD)
    hostile = Hostile(pushed.host, recorder.host)
    try:
        url = f"oci://{hostile.host}/stack:v1"
        result = deploy(url, tmp_path / "target", pm=pm, reporter=RecordingReporter())
    finally:
        hostile.stop()
        recorder.stop()
    assert len(result.installed) == 4  # every archive came through the redirect, verified
    assert [path for path in recorder.requests if "/blobs/" in path]
    assert recorder.authorizations == []  # the other host never saw the credentials
    assert any(value.startswith("Basic ") for value in hostile.authorizations)  # the registry did


def test_a_plain_http_token_realm_on_another_host_gets_no_credentials(tmp_path, pushed, pm):
    recorder = Recorder(pushed.host, USER, PASSWORD)
    hostile = Hostile(pushed.host, recorder.host, realm_elsewhere=True)
    try:
        with pytest.raises(RegistryAuthError) as caught:
            deploy(
                f"oci://{hostile.host}/stack:v1",
                tmp_path / "target",
                pm=pm,
                reporter=RecordingReporter(),
            )
    finally:
        hostile.stop()
        recorder.stop()
    assert "plain HTTP on another host" in caught.value.message
    assert recorder.authorizations == []
    assert recorder.requests == []
    assert PASSWORD not in str(caught.value) and PASSWORD not in (caught.value.hint or "")
    assert not (tmp_path / "target").exists()


def test_anonymous_pulls_may_use_a_token_realm_on_another_host(
    tmp_path, registry, publish_layers_to, pm
):
    """Without credentials nothing can leak: the realm is asked anonymously, as Docker does."""
    output = publish_layers_to(tmp_path / "dist")
    push(output, registry.url("stack"))
    recorder = Recorder(registry.host, "nobody", "nothing")
    hostile = Hostile(registry.host, recorder.host, realm_elsewhere=True)
    try:
        result = deploy(
            f"oci://{hostile.host}/stack:v1", tmp_path / "t", pm=pm, reporter=RecordingReporter()
        )
    finally:
        hostile.stop()
        recorder.stop()
    assert len(result.installed) == 4
    assert "/token" in recorder.requests[0]
    assert [auth for path, auth in recorder.authorizations if path.startswith("/token")] == []


SECRET = "hunter2-very-secret"


@pytest.mark.parametrize(
    "answer",
    [
        f'{{"Username": "bot", "Secret": "{SECRET}"',  # cut short
        f'{{"Username": 1, "Secret": "{SECRET}"}}',  # a user that is no string
        f'[{{"Username": "bot", "Secret": "{SECRET}"}}]',  # not an object
        "[" * 5000 + SECRET + "]" * 5000,  # nested too deeply
    ],
    ids=["truncated", "bad-user", "list", "deep"],
)
def test_a_credential_helpers_unexpected_answer_never_shows_the_secret(
    tmp_path, monkeypatch, answer
):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    helper = helpers / "docker-credential-leaky"
    helper.write_text(f"#!/bin/sh\ncat > /dev/null\nprintf '%s' '{answer}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    config = Path(os.environ["HOME"]) / ".docker" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"credHelpers": {"registry.example": "leaky"}}))
    with pytest.raises(RegistryAuthError) as caught:
        find_credentials("registry.example", "stack")
    shown = f"{caught.value.message}\n{caught.value.hint}\n{caught.value!r}"
    assert SECRET not in shown
    assert "docker-credential-leaky" in shown


def test_a_failing_credential_helper_printing_its_answer_does_not_show_it(tmp_path, monkeypatch):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    helper = helpers / "docker-credential-leaky"
    helper.write_text(
        f'#!/bin/sh\ncat > /dev/null\necho \'{{"Username": "bot", "Secret": "{SECRET}"}}\'\n'
        "exit 3\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    config = Path(os.environ["HOME"]) / ".docker" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"credHelpers": {"registry.example": "leaky"}}))
    with pytest.raises(RegistryAuthError) as caught:
        find_credentials("registry.example", "stack")
    assert SECRET not in f"{caught.value.message}\n{caught.value.hint}"
    assert "exit status 3" in caught.value.message


@pytest.mark.parametrize(
    ("forwarded", "error"),
    [(0, RegistryError), (1, DeployError)],
    ids=["the metadata blob", "a layer archive"],
)
def test_a_stalled_blob_download_fails_once_naming_the_registry(  # noqa: PLR0917 - fixtures
    tmp_path, pushed, pm, monkeypatch, forwarded, error
):
    """A registry that stops sending mid-blob ends the deploy after one timeout, not five."""
    monkeypatch.setenv("ENVSTACKS_HTTP_TIMEOUT", "1")
    stalling = Stalling(pushed.host, forwarded=forwarded)
    try:
        url = f"oci://{stalling.host}/stack:v1"
        with pytest.raises(error) as caught:
            deploy(url, tmp_path / "target", pm=pm, reporter=RecordingReporter())
    finally:
        stalling.stop()
    assert "stalled" in caught.value.message and stalling.host in caught.value.message
    assert "ENVSTACKS_HTTP_TIMEOUT" in (caught.value.hint or "")
    assert len(stalling.asked) == len(set(stalling.asked))  # no blob was asked for twice
    assert not list((tmp_path / "target").glob(".envstacks-tmp.*"))
