"""Push published layers to a real registry and deploy them from it (real archives, small trees).

The layers are the deploy tests' small trees (real archives, real postinstall subprocesses);
the registry is the CNCF distribution registry. What was uploaded and downloaded is read from
the registry's access log and storage folder, not from the client's own account.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, PublishError, VerificationError
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published import oci_layout as oa
from envstacks.stages.oci import PushOptions
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.push_folder import push_publish_folder
from envstacks.stages.oci.reference import parse_reference
from kits import layers as layer_kit

HOST = host_platform()
OTHER = "win_amd64"


def manifest_of(output: Path) -> dict:
    return json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())


def push(output: Path, url: str, *, platform: str | None = None, merge: bool = False, **kw):
    return push_publish_folder(
        output,
        PushOptions(target=url, insecure=kw.pop("insecure", False)),
        platforms=(platform or HOST,),
        merge=merge,
        reporter=RecordingReporter(),
        **kw,
    )


def archive_digest(output: Path, install_target: str) -> str:
    for entries in manifest_of(output)["layers"].values():
        for entry in entries:
            if entry["install_target"] == install_target:
                return "sha256:" + entry["archive_hashes"]["sha256"]
    raise KeyError(install_target)


def layers_with(changed: str) -> list:
    layers = layer_kit.default_layers()
    for layer in layers:
        if layer.install_target == changed:
            layer.files = {"CHANGED.txt": "version 2\n"}
    return layers


def as_platform(output: Path, platform: str) -> None:
    """Rewrite a publish folder's manifest as if it had been published for ``platform``."""
    path = output / "__venvstacks__" / "venvstacks.json"
    data = json.loads(path.read_text())
    for entries in data["layers"].values():
        for entry in entries:
            entry["target_platform"] = platform
    path.write_text(json.dumps(data))


def test_push_then_deploy_into_a_fresh_folder(tmp_path, publish_layers_to, registry, pm):
    output = publish_layers_to(tmp_path / "dist")
    url = registry.url("team/stack")
    result = push(output, url)

    archives = {archive_digest(output, t) for t in ("cpython-3.12", "app-one", "app-two@2")}
    assert all(blob.uploaded for blob in result.blobs)
    assert len(result.blobs) == 5  # four archives and the config
    assert set(registry.blob_uploads()) == {blob.digest for blob in result.blobs}
    assert archives <= registry.stored_blobs()
    assert result.platforms == (HOST,)

    target = tmp_path / "deployed"
    mark = registry.mark()
    deployed = deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert deployed.installed == ("cpython-3.12", "framework-fw", "app-one", "app-two@2")
    assert deployed.source == f"{url}@{result.manifests[HOST]}"
    # Postinstall ran with the runtime layer's interpreter, runtime first.
    order = (target / "postinstall-order.txt").read_text().split()
    assert order == ["cpython-3.12", "framework-fw", "app-one", "app-two@2"]
    report = json.loads((target / "app-one" / "postinstall.json").read_text())
    assert report["via"] == str(target / "cpython-3.12" / "bin")
    assert len(registry.blob_gets(mark)) == 5  # config + four archives, each once
    assert not (target / ".envstacks-downloads").exists()

    mark = registry.mark()
    again = deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert again.installed == ()
    assert set(again.reused) == set(deployed.installed)
    config = next(blob.digest for blob in result.blobs if blob.kind == "config")
    assert registry.blob_gets(mark) == [config]  # the metadata only: no archive again


def test_second_version_sends_and_fetches_only_the_changed_layer(
    tmp_path, publish_layers_to, registry, pm
):
    v1 = publish_layers_to(tmp_path / "v1")
    v2 = publish_layers_to(tmp_path / "v2", layers=layers_with("app-two@2"))
    changed = archive_digest(v2, "app-two@2")
    assert changed != archive_digest(v1, "app-two@2")
    assert archive_digest(v2, "app-one") == archive_digest(v1, "app-one")
    push(v1, registry.url("stack", "v1"))
    stored = registry.stored_blobs()

    mark = registry.mark()
    second = push(v2, registry.url("stack", "v2"))
    uploaded = {blob.digest for blob in second.blobs if blob.uploaded}
    config = next(blob.digest for blob in second.blobs if blob.kind == "config")
    assert uploaded == {changed, config}
    assert set(registry.blob_uploads(mark)) == {changed, config}  # the registry's own log
    new_blobs = registry.stored_blobs() - stored
    assert new_blobs == {changed, config, second.manifests[HOST], second.index_digest}

    target = tmp_path / "deployed"
    deploy(registry.url("stack", "v1"), target, pm=pm, reporter=RecordingReporter())
    mark = registry.mark()
    result = deploy(registry.url("stack", "v2"), target, pm=pm, reporter=RecordingReporter())
    assert result.installed == ("app-two@2",)
    assert set(result.reused) == {"cpython-3.12", "framework-fw", "app-one"}
    assert set(registry.blob_gets(mark)) == {config, changed}
    assert (target / "app-two@2" / "CHANGED.txt").read_text() == "version 2\n"


@pytest.mark.parametrize("how", ["same size", "longer"])
def test_tampered_blob_in_registry_storage_is_refused(
    tmp_path, publish_layers_to, registry, pm, how
):
    output = publish_layers_to(tmp_path / "dist")
    url = registry.url("stack")
    push(output, url)
    blob = registry.blob_file(archive_digest(output, "app-one"))
    data = bytearray(blob.read_bytes())
    if how == "same size":
        data[len(data) // 2] ^= 0xFF
    else:
        data += b"extra bytes"
    blob.write_bytes(bytes(data))

    target = tmp_path / "deployed"
    with pytest.raises(VerificationError) as caught:
        deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert "app-one" in str(caught.value)
    assert ("digest" if how == "same size" else "more than") in str(caught.value)
    assert not (target / "app-one").exists()  # refused: nothing of it placed
    assert (target / "app-two@2").is_dir()  # layers that do not need it are deployed
    assert not list((target / ".envstacks-downloads").glob("app-one*"))


def test_missing_platform_is_refused_naming_the_published_ones(
    tmp_path, publish_layers_to, registry, pm
):
    output = publish_layers_to(tmp_path / "dist")
    as_platform(output, OTHER)
    push(output, registry.url("stack"), platform=OTHER, merge=True)

    with pytest.raises(DeployError, match=rf"nothing published for {HOST}.*{OTHER}") as caught:
        deploy(registry.url("stack"), tmp_path / "deployed", pm=pm, reporter=RecordingReporter())
    assert "--tag-outputs" in (caught.value.hint or "")


def test_platforms_pushed_from_several_machines_share_one_index(
    tmp_path, publish_layers_to, registry, pm
):
    url = registry.url("stack", "1.0")
    other = publish_layers_to(tmp_path / "other", layers=layers_with("app-one"))
    as_platform(other, OTHER)
    push(other, url, platform=OTHER, merge=True)
    here = publish_layers_to(tmp_path / "here")
    first = push(here, url, merge=True)
    assert first.platforms == tuple(sorted((HOST, OTHER)))

    # A second build on this machine replaces this platform's entry and keeps the other.
    here2 = publish_layers_to(tmp_path / "here2", layers=layers_with("app-two@2"))
    second = push(here2, url, merge=True)
    assert second.platforms == first.platforms
    client = RegistryClient(parse_reference(url), push=False)
    data, media_type, digest = client.get_manifest("1.0", what="read")
    index = json.loads(data)
    assert media_type == oa.INDEX
    assert digest == second.index_digest
    by_platform = {oa.entry_platform(e): e for e in index["manifests"]}
    assert by_platform[HOST]["digest"] == second.manifests[HOST]
    assert by_platform[OTHER]["platform"] == {"os": "windows", "architecture": "amd64"}
    assert by_platform[HOST]["artifactType"] == oa.ARTIFACT_TYPE

    target = tmp_path / "deployed"
    result = deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert (target / "app-two@2" / "CHANGED.txt").exists()
    assert not (target / "app-one" / "CHANGED.txt").exists()  # not the other platform's
    assert result.source.endswith(second.manifests[HOST])

    # Pinned by digest: the index's, or this platform's manifest's.
    for digest in (second.index_digest, second.manifests[HOST]):
        pinned = f"oci://{registry.host}/stack@{digest}"
        again = deploy(pinned, target, pm=pm, reporter=RecordingReporter())
        assert again.installed == ()


def test_push_without_merge_replaces_the_tag(tmp_path, publish_layers_to, registry):
    other = publish_layers_to(tmp_path / "other")
    as_platform(other, OTHER)
    push(other, registry.url("stack"), platform=OTHER, merge=True)
    result = push(publish_layers_to(tmp_path / "here"), registry.url("stack"))
    assert result.platforms == (HOST,)


def test_chunked_upload_of_large_blobs(tmp_path, publish_layers_to, registry, pm):
    output = publish_layers_to(tmp_path / "dist")
    url = registry.url("stack")
    client = RegistryClient(parse_reference(url), push=True, chunk_upload=256)
    push(output, url, client=client)
    patches = [r for r in registry.requests() if r[0] == "PATCH"]
    assert len(patches) > 5
    result = deploy(url, tmp_path / "deployed", pm=pm, reporter=RecordingReporter())
    assert len(result.installed) == 4


def test_unchanged_push_uploads_nothing(tmp_path, publish_layers_to, registry):
    output = publish_layers_to(tmp_path / "dist")
    first = push(output, registry.url("stack"))
    mark = registry.mark()
    again = push(output, registry.url("stack"))
    assert not any(blob.uploaded for blob in again.blobs)
    assert registry.blob_uploads(mark) == []
    assert again.manifests == first.manifests  # same bytes, same digests
    assert again.index_digest == first.index_digest


def test_push_refuses_a_folder_whose_archive_changed(tmp_path, publish_layers_to, registry):
    output = publish_layers_to(tmp_path / "dist")
    (output / "app-one.tar.zst").write_bytes(b"truncated")
    with pytest.raises(PublishError, match=r"app-one\.tar\.zst: the manifest records"):
        push(output, registry.url("stack"))
    with pytest.raises(PublishError, match="not to a digest"):
        push(output, f"oci://{registry.host}/stack@sha256:{'0' * 64}")


def test_unknown_tag_and_foreign_artifact(tmp_path, publish_layers_to, registry, pm):
    from envstacks.floor.errors import RegistryNotFoundError

    with pytest.raises(RegistryNotFoundError, match="HTTP 404") as caught:
        deploy(registry.url("nothing"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert "publish --to" in (caught.value.hint or "")

    # A tag holding something else than envstacks layers is neither deployed nor merged into.
    client = RegistryClient(parse_reference(registry.url("img")), push=True)
    config = b"{}"
    client.upload_blob(config, oa.digest_of(config), 2, lambda n: None)
    image = oa.document(
        {
            "schemaVersion": 2,
            "mediaType": oa.MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": oa.digest_of(config),
                "size": 2,
            },
            "layers": [],
        }
    )
    client.put_manifest("v1", image, oa.MANIFEST, what="put")
    with pytest.raises(DeployError, match="not an envstacks artifact"):
        deploy(registry.url("img"), tmp_path / "t", pm=pm, reporter=RecordingReporter())
    output = publish_layers_to(tmp_path / "dist")
    with pytest.raises(PublishError, match="not envstacks layers"):
        push(output, registry.url("img"), merge=True)


def test_interrupted_download_resumes_from_the_part_file(tmp_path, publish_layers_to, registry, pm):
    output = publish_layers_to(tmp_path / "dist")
    url = registry.url("stack")
    push(output, url)
    target = tmp_path / "deployed"
    downloads = target / ".envstacks-downloads"
    downloads.mkdir(parents=True)
    archive = output / "cpython-3.12.tar.zst"
    half = archive.read_bytes()[: archive.stat().st_size // 2]
    (downloads / "cpython-3.12.tar.zst.part").write_bytes(half)

    deploy(url, target, pm=pm, reporter=RecordingReporter())
    ranges = [
        r for r in registry.requests() if r[0] == "GET" and r[2] == 206
    ]  # the runtime's blob was asked for from the middle
    assert len(ranges) == 1
    shutil.rmtree(target)


def test_deltas_and_file_indexes_travel_through_the_registry(
    tmp_path, publish_layers_to, registry, pm
):
    from envstacks.stages.oci.deploy_source import open_oci_source

    one = publish_layers_to(tmp_path / "one", indexes=True)
    url = registry.url("team/stack")
    first = push(one, url)
    indexes = [blob for blob in first.blobs if blob.kind == "file index"]
    assert len(indexes) == 4 and all(blob.uploaded for blob in indexes)
    target = tmp_path / "deployed"
    deploy(url, target, pm=pm, reporter=RecordingReporter())

    # The earlier versions' file indexes come from the registry: no archive is fetched.
    mark = registry.mark()
    source = open_oci_source(url, platform=HOST, reporter=RecordingReporter())
    two = publish_layers_to(tmp_path / "two", layers_with("framework-fw"), delta_from=source)
    archives = {archive_digest(one, t) for t in ("cpython-3.12", "framework-fw", "app-one")}
    fetched = set(registry.blob_gets(mark))
    assert fetched and not fetched & archives
    (delta,) = manifest_of(two)["layers"]["frameworks"][0]["deltas"]

    second = push(two, url)
    (pushed_delta,) = [blob for blob in second.blobs if blob.kind == "delta"]
    assert pushed_delta.uploaded and pushed_delta.name == delta["archive_name"]
    mark = registry.mark()
    result = deploy(url, target, pm=pm, reporter=RecordingReporter())
    transfers = {t.install_target: t for t in result.transfers}
    assert transfers["framework-fw"].method == "delta"
    # Only the delta came down for the layer: the kept index of the installed version served.
    assert transfers["framework-fw"].downloaded_bytes == delta["archive_size"]
    gets = registry.blob_gets(mark)
    assert pushed_delta.digest in gets
    assert archive_digest(two, "framework-fw") not in gets
    assert (target / "framework-fw" / "CHANGED.txt").read_text() == "version 2\n"


def test_a_tampered_delta_in_the_registry_makes_deploy_use_the_full_archive(
    tmp_path, publish_layers_to, registry, pm
):
    one = publish_layers_to(tmp_path / "one", indexes=True)
    url = registry.url("stack")
    push(one, url)
    target = tmp_path / "deployed"
    deploy(url, target, pm=pm, reporter=RecordingReporter())
    two = publish_layers_to(tmp_path / "two", layers_with("framework-fw"), delta_from=one)
    second = push(two, url)
    (delta,) = [blob for blob in second.blobs if blob.kind == "delta"]
    stored = registry.blob_file(delta.digest)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    reporter = RecordingReporter()
    result = deploy(url, target, pm=pm, reporter=reporter)
    methods = {t.install_target: t.method for t in result.transfers}
    assert methods["framework-fw"] == "full"
    assert any("was not used" in text for text in reporter.texts("warning"))
    assert (target / "framework-fw" / "CHANGED.txt").read_text() == "version 2\n"
