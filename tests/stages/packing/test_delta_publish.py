"""File indexes and delta archives at publish: reproducible, the tree hash's source, minimal."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import PublishError
from envstacks.floor.report import RecordingReporter
from envstacks.published.archive_formats import get_format
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_recipe import RECIPE_MEMBER, DeltaRecipe, make_recipe
from envstacks.published.file_index import FileIndex, index_tree, tree_hash
from envstacks.published.layer_tree import scan_tree
from envstacks.stages.stackspec import stack_paths

from .conftest import Stack, make_tree

META = Path("__venvstacks__") / "env_metadata"


def _entry(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(
        entry
        for entries in manifest["layers"].values()
        for entry in entries
        if entry["layer_name"] == name
    )


def _members(stack: Stack, archive: Path) -> dict[str, bytes | None]:
    """Every member of an archive: name -> content (None for folders and links)."""
    fmt = get_format(stack.pm, "tar.zst")
    found: dict[str, bytes | None] = {}
    with archive.open("rb") as raw, fmt.open_reader(raw) as reader:
        for member in reader.members():
            if member.kind is MemberKind.FILE:
                sink = _Sink()
                reader.extract(member, sink)  # type: ignore[arg-type]
                found[member.name] = bytes(sink.data)
            else:
                found[member.name] = None
    return found


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def test_index_is_reproducible_and_gives_the_published_tree_hash(stack: Stack, tmp_path: Path):
    result = stack.publish()
    output = stack.spec.settings.output_dir
    for item in result.layers:
        recorded = item.metadata["file_index"]
        data = (output / META / recorded["name"]).read_bytes()
        assert recorded["name"] == f"{item.metadata['archive_name']}.files.json.gz"
        assert len(data) == recorded["size"]
        index = FileIndex.from_bytes(data, where="test")
        assert index.tree_sha256 == item.metadata["tree_hashes"]["sha256"]
        assert index.content_size == item.metadata["unpacked_size"]
        assert index.entry_count == item.metadata["unpacked_entries"]
    # The same tree from another folder (other umask, creation order) gives the same bytes.
    one = make_tree(tmp_path / "one")
    two = make_tree(tmp_path / "two", reverse=True, umask=0o077)
    first = index_tree(scan_tree(one, root_name="x")).to_bytes()
    assert first == index_tree(scan_tree(two, root_name="x")).to_bytes()
    read = FileIndex.from_bytes(first, where="t")
    assert tree_hash(scan_tree(one, root_name="x")) == read.tree_sha256


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["entries"].append(["../escape", "f", 420, 1, "0" * 64]), "plain relative"),
        (lambda d: d["entries"].append(["nowhere/file", "f", 420, 1, "0" * 64]), "not listed"),
        (lambda d: d["entries"].append(d["entries"][0]), "listed twice"),
        (lambda d: d["entries"].append(["x", "f", 0o4755, 1, "0" * 64]), "mode"),
        (lambda d: d.update(tree_sha256="0" * 64), "records"),
    ],
)
def test_damaged_indexes_are_refused(tmp_path: Path, change: Any, why: str):
    index = index_tree(scan_tree(make_tree(tmp_path / "t"), root_name="x"))
    document = index.to_document()
    change(document)
    if why != "records":
        document["tree_sha256"] = FileIndex(root="x", entries=()).tree_sha256
    with pytest.raises(PublishError, match=why):
        FileIndex.from_document(json.loads(json.dumps(document)), where="test")


def test_recipe_reuses_moved_content_and_lists_removals(tmp_path: Path):
    old = make_tree(tmp_path / "old")
    new = tmp_path / "new"
    shutil.copytree(old, new, symlinks=True)
    site = new / "lib/python3.12/site-packages"
    (site / "pkg/data.bin").rename(site / "pkg/renamed.bin")  # moved: reused
    (site / "pkg/__init__.py").write_text("VALUE = 2\n")  # changed: in the payload
    (site / "added.py").write_text("# new\n")  # new: in the payload
    shutil.rmtree(new / "share")  # removed
    base = index_tree(scan_tree(old, root_name="x"))
    new_index = index_tree(scan_tree(new, root_name="x"))
    recipe = make_recipe(new_index, base, base_tree_sha256=base.tree_sha256)
    prefix = "lib/python3.12/site-packages/"
    assert recipe.payload == {prefix + "pkg/__init__.py", prefix + "added.py"}
    assert dict(recipe.moved) == {prefix + "pkg/renamed.bin": prefix + "pkg/data.bin"}
    assert recipe.remove == (prefix + "pkg/data.bin", "share", "share/empty")
    again = DeltaRecipe.from_bytes(recipe.to_bytes(), where="t", error=PublishError)
    assert again == recipe
    # Only what changed is in the recipe; applied to the base it gives the new index.
    assert {entry.path for entry in recipe.changed} == {
        prefix + "pkg/__init__.py",
        prefix + "added.py",
        prefix + "pkg/renamed.bin",
    }
    assert recipe.apply(base, error=PublishError) == new_index
    with pytest.raises(PublishError, match="made against tree"):
        recipe.apply(new_index, error=PublishError)
    forged = dataclasses.replace(recipe, remove=recipe.remove[:1])  # keeps share/
    with pytest.raises(PublishError, match="gives tree"):
        forged.apply(base, error=PublishError)


def test_publish_delta_from_an_earlier_publish(stack: Stack, tmp_path: Path):
    first = stack.publish()
    output = stack.spec.settings.output_dir
    earlier = tmp_path / "earlier"
    shutil.copytree(output, earlier)
    old_app = _entry(first.manifest, "app-app")
    stack.rebuild("app-app", "lib/python3.12/site-packages/pkg/__init__.py", "VALUE = 2\n")

    reporter = RecordingReporter()
    second = stack.publish(delta_from=[earlier], reporter=reporter)
    statuses = {item.layer: item.status for item in second.layers}
    assert statuses == {
        "cpython-3.12": "unchanged",
        "framework-fw": "unchanged",
        "app-app": "published",
    }
    app = _entry(second.manifest, "app-app")
    (delta,) = app["deltas"]
    assert delta["base_tree_hashes"] == old_app["tree_hashes"]
    assert delta["base_archive_hashes"] == old_app["archive_hashes"]
    assert delta["base_install_target"] == "app-app"
    archive = output / delta["archive_name"]
    assert archive.stat().st_size == delta["archive_size"] < app["archive_size"]
    members = _members(stack, archive)
    files = {name for name, data in members.items() if data is not None}
    assert files == {
        "app-app/lib/python3.12/site-packages/pkg/__init__.py",
        f"app-app/{RECIPE_MEMBER}",
    }
    recipe = DeltaRecipe.from_bytes(
        members[f"app-app/{RECIPE_MEMBER}"] or b"", where="t", error=PublishError
    )
    assert recipe.tree_sha256 == app["tree_hashes"]["sha256"]
    assert recipe.base_tree_sha256 == old_app["tree_hashes"]["sha256"]
    # Unchanged layers are not republished and carry no delta; venvstacks' fields are intact.
    assert "deltas" not in _entry(second.manifest, "framework-fw")
    assert {k: v for k, v in app.items() if k not in ("deltas",)}.keys() >= {
        "archive_name",
        "archive_size",
        "archive_hashes",
        "tree_hashes",
    }
    # Republishing the same change from the same source gives the same delta bytes.
    data = archive.read_bytes()
    stack.publish(delta_from=[earlier], force=True)
    assert archive.read_bytes() == data
    # A later version replaces the archive (untagged name): its old deltas go with it.
    stack.rebuild("app-app", "lib/python3.12/site-packages/pkg/__init__.py", "VALUE = 3\n")
    third = stack.publish(delta_from=[output])
    (newer,) = _entry(third.manifest, "app-app")["deltas"]
    assert not archive.exists()
    assert (output / newer["archive_name"]).is_file()


def test_delta_from_the_output_folder_itself_and_a_missing_delta_is_dropped(stack: Stack):
    stack.publish()
    output = stack.spec.settings.output_dir
    stack.rebuild("framework-fw", "bin/tool", "#!/bin/sh\necho tool 2\n")
    result = stack.publish(delta_from=[output])
    fw = _entry(result.manifest, "framework-fw")
    (delta,) = fw["deltas"]
    (output / delta["archive_name"]).unlink()
    again = stack.publish()
    assert "deltas" not in _entry(again.manifest, "framework-fw")
    stack_layer = stack_paths.env_path(stack.spec, stack.layer("framework-fw"))
    assert stack_layer.is_dir()


def test_a_delta_source_that_cannot_be_read_is_a_clear_publish_error(stack: Stack, tmp_path: Path):
    with pytest.raises(PublishError, match=r"--delta-from .*nothing: no such file") as caught:
        stack.publish(delta_from=[tmp_path / "nothing"])
    assert "first release" in (caught.value.hint or "")
    assert not (stack.spec.settings.output_dir / "__venvstacks__" / "venvstacks.json").exists()


def test_verify_reads_the_deltas_again_and_drops_one_that_changed(stack: Stack):
    """``publish --verify`` checks every delta's sha256 too, not only its size and identity."""
    stack.publish()
    output = stack.spec.settings.output_dir
    stack.rebuild("framework-fw", "bin/tool", "#!/bin/sh\necho tool 2\n")
    fw = _entry(stack.publish(delta_from=[output]).manifest, "framework-fw")
    (delta,) = fw["deltas"]
    archive = output / delta["archive_name"]
    # Same size and timestamps, other bytes: reading the delta again tells (before, only its
    # size was compared, so a delta changed in place stayed listed).
    info = archive.stat()
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    os.utime(archive, ns=(info.st_atime_ns, info.st_mtime_ns))

    reporter = RecordingReporter()
    verified = stack.publish(verify=True, reporter=reporter)
    assert "deltas" not in _entry(verified.manifest, "framework-fw")
    warnings = [text for level, text in reporter.messages if level == "warning"]
    assert any(delta["archive_name"] in text for text in warnings), warnings
