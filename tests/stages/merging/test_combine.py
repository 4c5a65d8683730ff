"""``envstacks merge``: real publish folders of several platforms in one folder that deploy reads.

The inputs are real ``publish`` and ``publish --tag-outputs`` runs of a really built stack
(:mod:`kits.publishes`: archives, file indexes, deltas and their bases' indexes); the second
platform is the host's folder relabelled, as no second platform can be built here. The
hostile inputs are those folders with one name or file changed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import PublishError
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.distribution import deploy, merge
from envstacks.stages.deploying.deploy_record import load_state
from kits.clib_stack import run_app
from kits.http_server import QuietHandler, serve
from kits.layers import Publisher, default_layers
from kits.publishes import HOST, OTHER, Publishes, entries, relabel

META = "__venvstacks__"


def snapshot_tree(root: Path, *, exclude: tuple[str, ...] = ()) -> dict[str, tuple[str, bytes]]:
    """Every path under ``root`` (but the top-level ``exclude``) with its kind and content."""
    state: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in exclude:
            continue
        if path.is_symlink():
            state[str(relative)] = ("link", os.readlink(path).encode())
        elif path.is_file():
            state[str(relative)] = ("file", path.read_bytes())
        else:
            state[str(relative)] = ("dir", b"")
    return state


def _merge(*inputs: Path, output: Path) -> Any:
    return merge(list(inputs), output, reporter=RecordingReporter())


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest, symlinks=True)
    return dest


def _edit(folder: Path, manifest: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to every entry of a manifest of ``folder``."""
    path = folder / META / manifest
    data = json.loads(path.read_text())
    for layer_entries in data["layers"].values():
        for entry in layer_entries:
            change(entry)
    path.write_text(json.dumps(data))


@pytest.fixture
def two_platforms(tmp_path: Path, real_publishes: Publishes) -> tuple[Path, Path]:
    """Version 2 of the real stack for this platform, and relabelled for another."""
    return real_publishes.tagged_v2, relabel(real_publishes.tagged_v2, tmp_path / "other")


def test_real_tagged_publishes_merge_and_deploy_with_deltas_from_folder_and_http(
    tmp_path: Path, real_publishes: Publishes, two_platforms: tuple[Path, Path], pm: Any
):
    host, other = two_platforms
    merged = tmp_path / "merged"
    result = _merge(host, other, output=merged)
    assert dict(result.manifests) == {
        HOST: f"{META}/venvstacks-{HOST}.json",
        OTHER: f"{META}/venvstacks-{OTHER}.json",
    }
    # Everything each real publish wrote is in the merged folder: the metadata written again,
    # archives, deltas and file indexes linked (not copied).
    for folder in (host, other):
        for path in folder.rglob("*"):
            relative = path.relative_to(folder)
            if path.suffix == ".json":
                assert json.loads((merged / relative).read_text()) == json.loads(path.read_text())
            elif path.is_file():
                linked = [(f / relative) for f in (host, other) if (f / relative).is_file()]
                assert any((merged / relative).samefile(p) for p in linked), relative
    index = json.loads((merged / META / "venvstacks.json").read_text())
    platforms = {e["target_platform"] for es in index["layers"].values() for e in es}
    assert platforms == {HOST, OTHER}
    assert entries(merged, f"venvstacks-{OTHER}.json") == entries(other, f"venvstacks-{OTHER}.json")

    # Version 1 deployed from its own folder; version 2 from the merged folder: the app by delta.
    target = tmp_path / "deployed"
    deploy(real_publishes.tagged_v1, target, pm=pm, reporter=RecordingReporter())
    updated = deploy(merged, target, pm=pm, reporter=RecordingReporter())
    assert {t.install_target: t.method for t in updated.transfers} == {
        "cpython-3.12": "reused",
        "framework-clib@1": "reused",
        "app-useext": "delta",
    }
    assert run_app(target)[-1] == '{"version": 2}'

    # Over HTTP into a fresh folder: this platform's archives, whole.
    fresh = tmp_path / "fresh"
    with serve(merged, QuietHandler) as url:
        deployed = deploy(url, fresh, pm=pm, reporter=RecordingReporter())
    assert deployed.source == f"{url}{META}/venvstacks-{HOST}.json"
    records = load_state(fresh)
    assert all(f"-{HOST}-" in record.archive_name for record in records.values())
    assert run_app(fresh)[-1] == '{"version": 2}'

    # Merging again (the merged folder as an input) changes nothing and copies nothing.
    again = _merge(merged, host, other, output=merged)
    assert again.copied == ()


@pytest.mark.parametrize("which", ["untagged_v1", "tagged_v1"])
def test_a_real_publish_folder_merges_alone_with_or_without_tag_outputs(
    tmp_path: Path, real_publishes: Publishes, which: str, pm: Any
):
    folder = getattr(real_publishes, which)
    status = main(["-q", "merge", str(folder), "--output-dir", str(tmp_path / "m"), "--json"])
    assert status == 0
    merged = tmp_path / "m"
    for path in folder.rglob("*.files.json.gz"):  # the file indexes that were refused before
        assert (merged / path.relative_to(folder)).is_file()
    deployed = deploy(merged, tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert set(deployed.installed) == {"cpython-3.12", "framework-clib@1", "app-useext"}


def test_stale_and_damaged_inputs_are_refused(
    tmp_path: Path, real_publishes: Publishes, two_platforms: tuple[Path, Path]
):
    host, other = two_platforms
    # Two builds of one platform (version 1 and version 2) disagree about the application.
    with pytest.raises(PublishError, match=rf"disagree about layer 'app-useext' for {HOST}"):
        _merge(real_publishes.tagged_v1, host, output=tmp_path / "stale")
    assert not list((tmp_path / "stale").iterdir())  # held (made) by the door, left empty

    damaged = _copy(other, tmp_path / "damaged")
    archive = next(damaged.glob("app-useext-*.delta-*.tar.zst"))
    archive.write_bytes(archive.read_bytes()[:-1] + b"\0")
    with pytest.raises(PublishError, match=r"not the .* bytes with sha256") as caught:
        _merge(host, damaged, output=tmp_path / "merged")
    assert archive.name in str(caught.value)
    assert not (tmp_path / "merged" / archive.name).exists()


def test_untagged_folders_of_two_platforms_are_refused_with_the_fix(
    tmp_path: Path, publish_layers_to: Publisher
):
    one = publish_layers_to(tmp_path / "one")
    layers = default_layers()
    layers[0].files = {"x.txt": "other"}
    two = publish_layers_to(tmp_path / "two", layers)
    _edit(two, "venvstacks.json", lambda entry: entry.update(target_platform=OTHER))
    with pytest.raises(PublishError, match=r"name different files 'cpython-3\.12\.tar\.zst'") as e:
        _merge(one, two, output=tmp_path / "merged")
    assert "--tag-outputs" in (e.value.hint or "")


def test_merge_command_line_errors(tmp_path: Path, capsys: Any):
    assert main(["merge", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "holds no manifest" in err
    assert "Traceback" not in err


# -- hostile inputs: merge writes only inside its output folder -----------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file the user can write outside the output folder (a credentials file, say)."""
    path = tmp_path / "home" / ".docker" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"auths": {"ghcr.io": {"auth": "secret"}}}')
    return path


@pytest.mark.parametrize(
    ("manifest", "change", "message"),
    [
        pytest.param(
            f"venvstacks-{HOST}.json",
            lambda e: e.update(layer_name="../../../home/.docker/config"),
            r"layer_name '\.\./\.\./\.\./home/\.docker/config' is not a plain name",
            id="layer name",
        ),
        pytest.param(
            "venvstacks.json",
            lambda e: e.update(target_platform="../../home/.docker/x"),
            r"target_platform '\.\./\.\./home/\.docker/x' is not a plain name",
            id="target platform",
        ),
        pytest.param(
            f"venvstacks-{HOST}.json",
            lambda e: e.update(archive_name="../home/.docker/config.json"),
            r"archive_name: '\.\./home/\.docker/config\.json' is not a plain file name",
            id="archive name",
        ),
        pytest.param(
            f"venvstacks-{HOST}.json",
            lambda e: e["file_index"].update(name="../../../home/.docker/config.json"),
            r"file_index: '\.\./\.\./\.\./home/\.docker/config\.json' is not a plain file name",
            id="file index name",
        ),
        pytest.param(
            f"venvstacks-{HOST}.json",
            lambda e: [d.update(archive_name="/tmp/x.json") for d in e.get("deltas", ())],
            r"deltas\[0\]: '/tmp/x\.json' is not a plain file name",
            id="delta name",
        ),
    ],
)
def test_hostile_names_in_an_input_are_refused_and_nothing_outside_is_written(  # noqa: PLR0917
    tmp_path: Path,
    real_publishes: Publishes,
    victim: Path,
    manifest: str,
    change: Callable[[dict[str, Any]], None],
    message: str,
):
    source = (
        real_publishes.tagged_v2 if manifest != "venvstacks.json" else real_publishes.untagged_v1
    )
    hostile = _copy(source, tmp_path / "hostile")
    _edit(hostile, manifest, change)
    before = snapshot_tree(tmp_path, exclude=("out",))
    output = tmp_path / "out" / "merged"
    with pytest.raises(PublishError, match=message):
        _merge(hostile, output=output)
    assert snapshot_tree(tmp_path, exclude=("out",)) == before
    assert victim.read_text() == '{"auths": {"ghcr.io": {"auth": "secret"}}}'


def test_an_input_archive_that_is_a_symlink_becomes_a_verified_copy(
    tmp_path: Path, real_publishes: Publishes, victim: Path, pm: Any
):
    folder = _copy(real_publishes.tagged_v1, tmp_path / "linked")
    archive = next(folder.glob("app-useext-*.tar.zst"))
    kept = tmp_path / "elsewhere" / archive.name
    kept.parent.mkdir()
    archive.rename(kept)
    archive.symlink_to(kept)  # an absolute link, as a CI cache might leave
    output = tmp_path / "merged"
    _merge(folder, output=output)
    copied = output / archive.name
    assert not copied.is_symlink()
    assert copied.read_bytes() == kept.read_bytes()
    assert copied.stat().st_ino != kept.stat().st_ino
    deploy(output, tmp_path / "t", pm=pm, reporter=RecordingReporter())

    # A link to another file (the victim) is refused, and nothing is written for it.
    other = _copy(real_publishes.tagged_v1, tmp_path / "hostile")
    archive = next(other.glob("app-useext-*.tar.zst"))
    archive.unlink()
    archive.symlink_to(victim)
    with pytest.raises(PublishError, match=r"not the \d+ bytes with sha256"):
        _merge(other, output=tmp_path / "merged2")
    assert not (tmp_path / "merged2" / archive.name).exists()
    assert not [p for p in (tmp_path / "merged2").iterdir() if p.name.startswith(".envstacks")]


def test_an_output_whose_metadata_folder_is_a_link_is_refused(
    tmp_path: Path, real_publishes: Publishes, victim: Path
):
    output = tmp_path / "merged"
    output.mkdir()
    (output / META).symlink_to(victim.parent)
    before = snapshot_tree(victim.parent)
    with pytest.raises(PublishError, match=r"__venvstacks__ is a link; merge writes only inside"):
        _merge(real_publishes.tagged_v1, output=output)
    assert snapshot_tree(victim.parent) == before


def test_a_planted_link_in_the_output_is_replaced_not_written_through(
    tmp_path: Path, real_publishes: Publishes, victim: Path
):
    output = tmp_path / "merged"
    (output / META / "env_metadata").mkdir(parents=True)
    (output / META / f"venvstacks-{HOST}.json").symlink_to(victim)
    (output / META / "env_metadata" / f"app-useext-{HOST}.json").symlink_to(victim)
    archive = next(real_publishes.tagged_v1.glob("app-useext-*.tar.zst")).name
    (output / archive).symlink_to(victim)
    _merge(real_publishes.tagged_v1, output=output)
    assert victim.read_text() == '{"auths": {"ghcr.io": {"auth": "secret"}}}'
    for path in output.rglob("*"):
        assert not path.is_symlink(), path


def test_a_fifo_for_a_manifest_is_refused_without_waiting(
    tmp_path: Path, real_publishes: Publishes
):
    folder = _copy(real_publishes.tagged_v1, tmp_path / "fifo")
    manifest = folder / META / f"venvstacks-{HOST}.json"
    manifest.unlink()
    os.mkfifo(manifest)
    with pytest.raises(PublishError, match="not a regular file"):
        _merge(folder, output=tmp_path / "merged")
