"""References, challenges, auth-file keys and the OCI documents: the parts that need no server."""

from __future__ import annotations

import json

import pytest

from envstacks.floor.errors import DeployError, ReferenceSyntaxError
from envstacks.published import oci_layout as oa
from envstacks.stages.oci.auth import parse_challenge
from envstacks.stages.oci.credentials import auth_files, find_credentials, normalize_key
from envstacks.stages.oci.reference import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "loopback"),
    [
        ("oci://ghcr.io/acme/stack:1.0", "ghcr.io", "acme/stack", "1.0", None, False),
        ("oci://GHCR.io/acme/stack", "ghcr.io", "acme/stack", None, None, False),
        ("oci://localhost:5000/stack:v1", "localhost:5000", "stack", "v1", None, True),
        ("oci://127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", None, None, True),
        ("oci://[::1]:5000/stack:v1", "[::1]:5000", "stack", "v1", None, True),
        (f"oci://ghcr.io/acme/stack@{DIGEST}", "ghcr.io", "acme/stack", None, DIGEST, False),
        (f"oci://ghcr.io/acme/stack:1.0@{DIGEST}", "ghcr.io", "acme/stack", "1.0", DIGEST, False),
        (
            "oci://registry.example:8443/team/app-stack_x:v1.2-rc",
            "registry.example:8443",
            "team/app-stack_x",
            "v1.2-rc",
            None,
            False,
        ),
    ],
)
def test_references(text, registry, repository, tag, digest, loopback):  # noqa: PLR0917
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.is_loopback is loopback
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ghcr.io/acme/stack", "does not start with oci://"),
        ("oci://ghcr.io", "names no repository"),
        ("oci://stack:1.0", "names no repository"),
        ("oci://acme/stack:1.0", "'acme' is not a registry host"),
        ("oci://ghcr.io/acme/st%ck", "repository 'acme/st%ck' is not valid"),
        ("oci://ghcr.io/acme//stack", "repository 'acme//stack' is not valid"),
        ("oci://ghcr.io/acme/stack:-bad", "tag '-bad' is not valid"),
        ("oci://ghcr.io/acme/stack@sha256:123", "is not 'sha256:' and 64"),
    ],
)
def test_bad_references_name_the_part(text, message):
    with pytest.raises(ReferenceSyntaxError, match=message):
        parse_reference(text)


def test_upper_case_repository_says_why_and_suggests_the_lowered_name():
    with pytest.raises(ReferenceSyntaxError) as caught:
        parse_reference("oci://GHCR.io/Acme/Stack:V1")
    assert caught.value.message == (
        "registry reference 'oci://GHCR.io/Acme/Stack:V1': repository 'Acme/Stack' has "
        "upper-case letters, which OCI repository names may not have (the distribution spec "
        "allows only lower case)"
    )
    # Tags may have upper case; the registry host is case-insensitive and kept as written.
    assert caught.value.hint == "use the lower-case name: oci://GHCR.io/acme/stack:V1"


def test_docker_hub_names_reach_its_api_host():
    assert parse_reference("oci://docker.io/acme/stack:1").api_host == "registry-1.docker.io"
    assert parse_reference("oci://ghcr.io/acme/stack:1").api_host == "ghcr.io"


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"',
            "bearer",
            {
                "realm": "https://ghcr.io/token",
                "service": "ghcr.io",
                "scope": "repository:a/b:pull",
            },
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        (
            'Bearer realm="https://auth.docker.io/token", service="registry.docker.io", '
            'error="insufficient_scope"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "error": "insufficient_scope",
            },
        ),
        ('Bearer realm="a\\"b",x=plain', "bearer", {"realm": 'a"b', "x": "plain"}),
    ],
)
def test_challenges(header, scheme, params):
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("GHCR.IO/", "ghcr.io"),
        ("quay.io/team", "quay.io/team"),
        ("http://localhost:5000/v2/", "localhost:5000"),
    ],
)
def test_auth_file_keys(key, normal):
    assert normalize_key(key) == normal


def test_auth_files_follow_podmans_order(tmp_path):
    env = {
        "HOME": str(tmp_path),
        "REGISTRY_AUTH_FILE": str(tmp_path / "explicit.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    assert auth_files(env) == [
        tmp_path / "explicit.json",
        tmp_path / "run" / "containers" / "auth.json",
        tmp_path / ".config" / "containers" / "auth.json",
        tmp_path / "docker" / "config.json",
    ]


def test_first_auth_file_with_an_entry_wins_and_identity_tokens_are_kept(tmp_path):
    podman = tmp_path / ".config" / "containers" / "auth.json"
    podman.parent.mkdir(parents=True)
    podman.write_text(json.dumps({"auths": {"ghcr.io": {"identitytoken": "refresh-me"}}}))
    docker = tmp_path / ".docker" / "config.json"
    docker.parent.mkdir()
    docker.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}}))
    env = {"HOME": str(tmp_path)}
    found = find_credentials("ghcr.io", "acme/stack", environ=env)
    assert found is not None and found.identity_token == "refresh-me"
    hub = find_credentials("docker.io", "acme/stack", environ=env)
    assert hub is not None and hub.basic == ("u", "p")
    assert str(docker) in hub.source
    assert find_credentials("quay.io", "x", environ=env) is None


def test_damaged_auth_file_is_named(tmp_path):
    docker = tmp_path / ".docker" / "config.json"
    docker.parent.mkdir()
    docker.write_text("{not json")
    with pytest.raises(Exception, match=r"config\.json: not valid JSON"):
        find_credentials("ghcr.io", "x", environ={"HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("tar.zst", "application/vnd.envstacks.layer.v1.tar+zstd"),
        ("tar.xz", "application/vnd.envstacks.layer.v1.tar+xz"),
        ("zip", "application/vnd.envstacks.layer.v1.zip"),
        (None, "application/vnd.envstacks.layer.v1.tar+xz"),
        ("tar.lz4", "application/vnd.envstacks.layer.v1.tar+lz4"),
    ],
)
def test_layer_media_types(fmt, media_type):
    assert oa.layer_media_type(fmt) == media_type


@pytest.mark.parametrize(
    ("platform", "oci"),
    [
        ("linux_x86_64", {"os": "linux", "architecture": "amd64"}),
        ("linux_aarch64", {"os": "linux", "architecture": "arm64"}),
        ("macosx_arm64", {"os": "darwin", "architecture": "arm64"}),
        ("win_amd64", {"os": "windows", "architecture": "amd64"}),
    ],
)
def test_oci_platforms(platform, oci):
    assert oa.oci_platform(platform) == oci


def test_index_merge_keeps_other_platforms_and_foreign_entries():
    config = oa.descriptor_of(oa.CONFIG, b"{}")
    linux = oa.image_manifest(config, [], platform="linux_x86_64")
    win = oa.image_manifest(config, [], platform="win_amd64")
    foreign = {"mediaType": oa.MANIFEST, "digest": DIGEST, "size": 10}
    first = json.loads(oa.merged_index([foreign], [oa.index_entry(linux, "linux_x86_64")]))
    second = json.loads(oa.merged_index(first["manifests"], [oa.index_entry(win, "win_amd64")]))
    assert [oa.entry_platform(e) for e in second["manifests"]] == [
        None,
        "linux_x86_64",
        "win_amd64",
    ]
    relinux = oa.image_manifest(oa.descriptor_of(oa.CONFIG, b"[]"), [], platform="linux_x86_64")
    third = json.loads(
        oa.merged_index(second["manifests"], [oa.index_entry(relinux, "linux_x86_64")])
    )
    assert len(third["manifests"]) == 3
    chosen = oa.select_platform(third, "linux_x86_64", where="t")
    assert chosen.digest == oa.digest_of(relinux)
    with pytest.raises(DeployError, match="nothing published for macosx_arm64"):
        oa.select_platform(third, "macosx_arm64", where="t")
    # Several platforms at once (a merged folder pushed): each replaces its own entry.
    both = json.loads(
        oa.merged_index(
            third["manifests"],
            [oa.index_entry(linux, "linux_x86_64"), oa.index_entry(relinux, "win_amd64")],
        )
    )
    assert [oa.entry_platform(e) for e in both["manifests"]] == [None, "linux_x86_64", "win_amd64"]
    assert oa.select_platform(both, "win_amd64", where="t").digest == oa.digest_of(relinux)


def test_documents_are_reproducible():
    config = oa.descriptor_of(oa.CONFIG, b"{}")
    layer = oa.Descriptor(
        media_type=oa.layer_media_type("tar.zst"),
        digest=DIGEST,
        size=3,
        annotations={oa.TITLE: "a"},
    )
    one = oa.image_manifest(config, [layer], platform="linux_x86_64")
    assert one == oa.image_manifest(config, [layer], platform="linux_x86_64")
    data = json.loads(one)
    assert data["artifactType"] == oa.ARTIFACT_TYPE
    assert data["layers"][0]["annotations"] == {oa.TITLE: "a"}
    parsed_config, layers = oa.parse_image_manifest(data, where="m")
    assert parsed_config == config and layers == (layer,)


def test_credentials_never_go_to_a_plain_http_token_service_of_a_tls_registry():
    from envstacks.floor.errors import RegistryAuthError
    from envstacks.stages.oci.auth import Authenticator
    from envstacks.stages.oci.credentials import Credentials

    asked: list[str] = []

    def fetch(method, url, headers, body):
        asked.append(url)
        return 200, b'{"token": "t"}'

    creds = Credentials(source="test", username="u", password="p")
    challenge = 'Bearer realm="http://auth.example/token",service="s"'
    with pytest.raises(RegistryAuthError, match="plain HTTP"):
        Authenticator("ghcr.io", creds, fetch).answer(challenge, scope="x", failed=None)
    assert asked == []
    # A registry that may be plain (on this machine, or --insecure) sends them over plain HTTP
    # to its own host only: a plain realm on another host gets nothing (issue 20, class 2).
    local = Authenticator("localhost:5000", creds, fetch, plain_http_ok=True)
    with pytest.raises(RegistryAuthError, match="plain HTTP on another host"):
        local.answer(challenge, scope="repository:a:pull", failed=None)
    assert asked == []
    own = 'Bearer realm="http://localhost:5000/token",service="s"'
    assert local.answer(own, scope="repository:a:pull", failed=None) == "Bearer t"
    assert asked == ["http://localhost:5000/token?service=s&scope=repository%3Aa%3Apull"]
