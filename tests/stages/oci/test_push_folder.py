"""``envstacks push FOLDER --to oci://...``: real publish folders, merged or not, to a registry.

The folders are real ``publish --tag-outputs`` runs of a really built stack, version 2 with
deltas from version 1 (:mod:`kits.publishes`); the second platform is the host's folder
relabelled. What was uploaded, mounted and downloaded is read from the registry's access log
and storage, not only from what the client says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import PublishError
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.distribution import deploy, merge, push
from envstacks.published import oci_layout as oa
from envstacks.published.push_record import pushed_repositories
from envstacks.stages.oci import PushOptions
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.reference import parse_reference
from kits.clib_stack import run_app
from kits.publishes import HOST, OTHER, Publishes, entries, relabel


def _push(folder: Path, url: str, **options: Any) -> Any:
    return push(folder, PushOptions(target=url, **options), reporter=RecordingReporter())


def _merged(real_publishes: Publishes, version: str, tmp_path: Path) -> Path:  # read only
    """Version ``version`` of the stack for this platform and another, merged."""
    host = getattr(real_publishes, f"tagged_{version}")
    other = relabel(host, tmp_path / f"other-{version}")
    output = tmp_path / f"merged-{version}"
    merge([host, other], output, reporter=RecordingReporter())
    return output


def test_merged_folders_pushed_then_deployed_with_deltas_from_the_registry(
    tmp_path: Path, real_publishes: Publishes, registry: Any, pm: Any, capsys: Any
):
    v1, v2 = (_merged(real_publishes, version, tmp_path) for version in ("v1", "v2"))
    first = _push(v1, registry.url("team/stack", "1"))
    assert sorted(first.manifests) == sorted([HOST, OTHER])
    assert first.platforms == tuple(sorted([HOST, OTHER]))
    target = tmp_path / "deployed"
    deploy(registry.url("team/stack", "1"), target, pm=pm, reporter=RecordingReporter())

    mark = registry.mark()
    second = _push(v2, registry.url("team/stack", "2"))
    kinds = {(blob.kind, blob.uploaded) for blob in second.blobs}
    assert ("delta", True) in kinds
    assert ("file index", True) in kinds  # the new app's index, and its delta base's
    # The unchanged layers were in the registry already: only the new files went up.
    app = entries(v2, f"venvstacks-{HOST}.json")["app-useext"]
    (delta,) = app["deltas"]
    uploads = registry.blob_uploads(mark)
    assert f"sha256:{delta['archive_hashes']['sha256']}" in uploads
    unchanged = entries(v2, f"venvstacks-{HOST}.json")["framework-clib@1"]
    assert f"sha256:{unchanged['archive_hashes']['sha256']}" not in uploads

    mark = registry.mark()
    capsys.readouterr()
    url = registry.url("team/stack", "2")
    assert main(["-q", "deploy", url, "--target", str(target), "--json"]) == 0
    transfers = {t["install_target"]: t for t in json.loads(capsys.readouterr().out)["transfers"]}
    assert transfers["app-useext"]["method"] == "delta"
    assert transfers["app-useext"]["downloaded_bytes"] == delta["archive_size"]
    assert f"sha256:{app['archive_hashes']['sha256']}" not in registry.blob_gets(mark)
    assert run_app(target)[-1] == '{"version": 2}'


def test_a_push_to_a_second_repository_mounts_every_blob(
    tmp_path: Path, real_publishes: Publishes, registry: Any
):
    folder = tmp_path / "dist"
    shutil.copytree(real_publishes.tagged_v2, folder)
    first = _push(folder, registry.url("team/stack", "2"))
    assert pushed_repositories(folder) == (f"{registry.host}/team/stack",)

    # Remembered from the first push: nothing is uploaded to the second repository.
    mark = registry.mark()
    second = _push(folder, registry.url("team/release", "2"))
    assert second.uploaded_bytes == 0
    assert registry.blob_uploads(mark) == []
    assert {blob.mounted_from for blob in second.blobs} == {"team/stack"}
    assert second.mounted_bytes == sum(blob.size for blob in first.blobs)
    assert pushed_repositories(folder)[0] == f"{registry.host}/team/release"

    # Named with --mount-from, for a folder that remembers nothing (a fresh CI artifact).
    fresh = tmp_path / "artifact"
    shutil.copytree(real_publishes.tagged_v2, fresh)
    mark = registry.mark()
    third = _push(fresh, registry.url("other/stack", "2"), mount_from=("team/release",))
    assert third.uploaded_bytes == 0 and registry.blob_uploads(mark) == []
    assert {blob.mounted_from for blob in third.blobs} == {"team/release"}
    for url in (registry.url("team/release", "2"), registry.url("other/stack", "2")):
        client = RegistryClient(parse_reference(url), push=False)
        _data, media_type, _digest = client.get_manifest("2", what="read")
        assert media_type == oa.INDEX

    # A repository of another registry cannot be mounted from: a clear error.
    with pytest.raises(PublishError, match="a registry mounts only blobs it holds itself"):
        _push(fresh, registry.url("x/stack"), mount_from=("oci://ghcr.io/acme/stack",))


def test_a_repository_that_does_not_hold_the_blob_is_tried_then_the_blob_uploaded(
    tmp_path: Path, real_publishes: Publishes, registry: Any
):
    folder = tmp_path / "dist"
    shutil.copytree(real_publishes.tagged_v1, folder)
    mark = registry.mark()
    result = _push(folder, registry.url("team/stack"), mount_from=("nothing/here",))
    assert all(blob.uploaded for blob in result.blobs)
    assert len(registry.blob_uploads(mark)) == len(result.blobs)
    # Each mount attempt the registry answered with an upload session was cancelled.
    requests = registry.requests()[mark:]
    started = [r for r in requests if r[0] == "POST" and r[2] == 202]
    cancelled = [r for r in requests if r[0] == "DELETE" and "/blobs/uploads/" in r[1]]
    assert len(cancelled) == len(result.blobs) and len(started) == 2 * len(result.blobs)


def test_push_command_line_and_its_refusals(
    tmp_path: Path, real_publishes: Publishes, registry: Any, capsys: Any
):
    folder = tmp_path / "dist"
    shutil.copytree(real_publishes.tagged_v2, folder)
    url = registry.url("team/stack", "2")
    assert main(["-q", "push", str(folder), "--to", url, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["manifests"]) == [HOST]
    assert printed["platforms"] == [HOST]

    def refused(*argv: str) -> str:
        assert main(list(argv)) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    assert "is not a folder" in refused("push", str(tmp_path / "missing"), "--to", url)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    assert "holds no manifest" in refused("push", str(tmp_path / "empty"), "--to", url)
    err = refused("push", str(folder), "--to", url, "--platform", "win_amd64")
    assert f"holds no layers published for win_amd64 (it holds: {HOST})" in err
    # A delta changed after publishing (same size), in a folder pushed nowhere yet (nothing to
    # mount it from): refused before it is sent.
    tampered = tmp_path / "tampered"
    shutil.copytree(real_publishes.tagged_v2, tampered)
    delta = next(tampered.glob("*.delta-*"))
    data = bytearray(delta.read_bytes())
    data[-10] ^= 0xFF
    delta.write_bytes(bytes(data))
    err = refused("push", str(tampered), "--to", registry.url("fresh/stack"))
    assert f"{delta.name}: its sha256 is" in err
    assert "not the" in err and "changed after it was published" in err


def test_an_untagged_folder_replaces_the_tag_and_a_tagged_one_joins_it(
    tmp_path: Path, real_publishes: Publishes, registry: Any
):
    url = registry.url("team/stack")
    other = relabel(real_publishes.tagged_v1, tmp_path / "other")
    tagged = shutil.copytree(real_publishes.tagged_v1, tmp_path / "tagged")
    untagged = shutil.copytree(real_publishes.untagged_v1, tmp_path / "untagged")
    assert _push(other, url).platforms == (OTHER,)
    assert _push(tagged, url).platforms == tuple(sorted([HOST, OTHER]))
    assert _push(untagged, url).platforms == (HOST,)


def test_a_folder_holding_two_publishes_pushes_the_one_asked_for(
    tmp_path: Path, real_publishes: Publishes, registry: Any
):
    """An untagged publish into a folder holding a tagged one.

    ``publish --to`` pushes the manifest it wrote; ``push`` what deploy on each platform
    reads (the tagged one).
    """
    from envstacks.stages.oci.push_folder import push_publish_folder

    folder = shutil.copytree(real_publishes.tagged_v2, tmp_path / "both")
    shutil.copytree(real_publishes.untagged_v1, folder, dirs_exist_ok=True)

    def pushed(**kw: Any) -> set[str]:
        result = push_publish_folder(
            folder,
            PushOptions(target=registry.url("team/stack")),
            reporter=RecordingReporter(),
            platforms=(HOST,),
            **kw,
        )
        return {blob.name for blob in result.blobs if blob.kind == "archive"}

    assert pushed(manifest_name="venvstacks.json", merge=False) == {
        "cpython-3.12.tar.zst",
        "framework-clib@1.tar.zst",
        "app-useext.tar.zst",
    }
    assert all(f"-{HOST}-" in name for name in pushed())
