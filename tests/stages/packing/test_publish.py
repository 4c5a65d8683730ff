"""Publishing: metadata, skip-if-unchanged, --force, --tag-outputs, --dry-run, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import NotBuiltError, PublishError, SpecError
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.stages.packing import archiving as packing_module

from .conftest import LOCKED_AT, Stack, lock_state

PLATFORM = host_platform()
NAMES = ["cpython-3.12", "framework-fw", "app-app"]
TARGETS = ["cpython-3.12", "framework-fw@1", "app-app"]


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _meta(output: Path) -> Path:
    return output / "__venvstacks__"


def _valid(output: Path, manifest: dict[str, Any]) -> list[str]:
    """Archive names the manifest lists, each checked to exist with its recorded size and hash."""
    names = []
    for entries in manifest["layers"].values():
        for entry in entries:
            archive = output / entry["archive_name"]
            assert archive.stat().st_size == entry["archive_size"]
            assert (
                hashlib.sha256(archive.read_bytes()).hexdigest()
                == entry["archive_hashes"]["sha256"]
            )
            names.append(entry["archive_name"])
    return sorted(names)


def test_publish_writes_archives_and_venvstacks_metadata(stack: Stack):
    reporter = RecordingReporter()
    result = stack.publish(reporter=reporter)
    output = stack.spec.settings.output_dir

    assert [item.status for item in result.layers] == ["published"] * 3
    assert sorted(p.name for p in output.iterdir()) == sorted(
        [f"{t}.tar.zst" for t in TARGETS] + ["__venvstacks__"]
    )
    manifest = _json(_meta(output) / "venvstacks.json")
    assert result.manifest == manifest
    assert _valid(output, manifest) == sorted(f"{t}.tar.zst" for t in TARGETS)
    app = _json(_meta(output) / "env_metadata" / "app-app.json")
    assert manifest["layers"]["applications"] == [app]
    assert app["install_target"] == "app-app"
    assert app["runtime_layer"] == "cpython-3.12"
    assert app["required_layers"] == ["framework-fw@1"]
    assert app["app_launch_module"] == "app"
    assert app["app_launch_module_hash"].startswith("sha256:")
    assert app["locked_at"] == LOCKED_AT and app["lock_version"] == 1
    assert app["python_implementation"] == "cpython@3.12.1"
    assert app["bound_to_implementation"] is False
    assert app["archive_build"] == 1 and app["target_platform"] == PLATFORM
    assert app["archive_format"] == "tar.zst"
    assert len(app["tree_hashes"]["sha256"]) == 64
    runtime = manifest["layers"]["runtimes"][0]
    assert runtime["runtime_layer"] == runtime["install_target"] == "cpython-3.12"
    assert runtime["bound_to_implementation"] is True and "required_layers" not in runtime
    assert manifest["layers"]["frameworks"][0]["install_target"] == "framework-fw@1"
    packs = [task for task in reporter.tasks if task.action == "pack tar.zst"]
    assert sorted(task.layer for task in packs) == sorted(NAMES)
    assert all(task.finished and task.done == task.total > 0 for task in packs)
    # Staging happened next to the build folder and was removed.
    assert not [
        p for p in stack.spec.settings.build_dir.iterdir() if p.name.startswith(".envstacks")
    ]


def test_unchanged_layers_are_skipped_from_metadata_alone(stack: Stack):
    first = stack.publish()
    output = stack.spec.settings.output_dir
    stamps = {p.name: p.stat().st_mtime_ns for p in output.iterdir() if p.is_file()}
    stack.staged.clear()

    again = stack.publish()

    assert [item.status for item in again.layers] == ["unchanged"] * 3
    assert stack.staged == []  # nothing was staged or packed
    assert {p.name: p.stat().st_mtime_ns for p in output.iterdir() if p.is_file()} == stamps
    assert again.manifest == first.manifest

    stack.rebuild("app-app", "postinstall.py", "print('v2')\n")
    third = stack.publish()
    assert [item.status for item in third.layers] == ["unchanged", "unchanged", "published"]
    assert stack.staged == ["app-app"]
    assert third.layers[2].metadata["archive_build"] == 2


def test_a_damaged_archive_is_rebuilt(stack: Stack):
    stack.publish()
    archive = stack.spec.settings.output_dir / "framework-fw@1.tar.zst"
    data = bytearray(archive.read_bytes())
    data[-20] ^= 1
    archive.write_bytes(bytes(data))
    result = stack.publish()
    assert [item.status for item in result.layers] == ["unchanged", "published", "unchanged"]
    assert _valid(stack.spec.settings.output_dir, result.manifest)


def test_force_republishes_with_a_new_archive_build_and_the_same_bytes(stack: Stack):
    first = stack.publish()
    forced = stack.publish(force=True)
    assert [item.metadata["archive_build"] for item in forced.layers] == [2, 2, 2]
    assert [item.metadata["archive_hashes"] for item in forced.layers] == [
        item.metadata["archive_hashes"] for item in first.layers
    ]
    relocked = dict(stack.lock_states)
    relocked["framework-fw"] = lock_state(stack.layer("framework-fw"), version=2)
    result = stack.publish(["framework-fw"], lock_states=relocked)
    assert result.layers[0].install_target == "framework-fw@2"
    assert result.layers[0].metadata["archive_build"] == 1  # a new lock version starts again


def test_tag_outputs_names(stack: Stack):
    result = stack.publish(tag_outputs=True)
    output = stack.spec.settings.output_dir
    assert sorted(item.archive_path.name for item in result.layers) == sorted(
        f"{t}-{PLATFORM}-1.tar.zst" for t in TARGETS
    )
    assert result.manifest_path == _meta(output) / f"venvstacks-{PLATFORM}.json"
    assert (_meta(output) / "env_metadata" / f"app-app-{PLATFORM}.json").is_file()
    assert not (_meta(output) / "venvstacks.json").exists()
    again = stack.publish(tag_outputs=True)
    assert [item.status for item in again.layers] == ["unchanged"] * 3
    forced = stack.publish(["app-app"], tag_outputs=True, force=True)
    assert forced.layers[0].archive_path.name == f"app-app-{PLATFORM}-2.tar.zst"
    assert (output / f"app-app-{PLATFORM}-1.tar.zst").is_file()  # earlier builds stay


def test_dry_run_writes_nothing(stack: Stack):
    result = stack.publish(dry_run=True)
    assert not stack.spec.settings.output_dir.exists()
    assert stack.staged == []
    assert [item.status for item in result.layers] == ["would publish"] * 3
    request = result.layers[2].metadata
    assert request["archive_name"] == "app-app.tar.zst" and request["archive_build"] == 1
    assert "archive_size" not in request and "archive_hashes" not in request
    assert result.describe()[-2:] == [
        "would publish: app-app.tar.zst",
        "compression: zstd level 10",
    ]
    text = "\n".join(result.describe(metadata=True))
    assert '"archive_name": "app-app.tar.zst"' in text


def test_manifest_lists_every_layer_published_in_the_folder(stack: Stack):
    stack.publish(["cpython-3.12"])
    result = stack.publish(["framework-fw"])
    listed = {k: [e["install_target"] for e in v] for k, v in result.manifest["layers"].items()}
    assert listed == {
        "applications": [],
        "frameworks": ["framework-fw@1"],
        "runtimes": ["cpython-3.12"],
    }


def test_formats_share_the_tree_hash(stack: Stack):
    zst = stack.publish()
    zipped = stack.publish(format_name="zip")
    assert [item.archive_path.suffix for item in zipped.layers] == [".zip"] * 3
    assert [item.status for item in zipped.layers] == ["published"] * 3
    assert [i.metadata["tree_hashes"] for i in zst.layers] == [
        i.metadata["tree_hashes"] for i in zipped.layers
    ]
    assert all(e["archive_format"] == "zip" for v in zipped.manifest["layers"].values() for e in v)


def test_failure_while_packing_changes_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    first = stack.publish()
    output = stack.spec.settings.output_dir
    before = {p.name: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    stack.rebuild("framework-fw", "postinstall.py", "print('v2')\n")
    stack.rebuild("app-app", "postinstall.py", "print('v2')\n")

    def broken_stage(*args: Any, **kwargs: Any) -> Path:
        if args[1].build_name == "app-app":
            raise OSError(28, "No space left on device")
        return Stack.stage(stack, *args, **kwargs)

    monkeypatch.setattr(stack, "stage", broken_stage)
    with pytest.raises(OSError, match="No space left"):
        stack.publish()

    assert {p.name: p.read_bytes() for p in output.rglob("*") if p.is_file()} == before
    assert _valid(output, first.manifest)


def test_crash_between_archives_and_manifest_leaves_a_valid_manifest(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    stack.publish()
    output = stack.spec.settings.output_dir
    stack.rebuild("framework-fw", "postinstall.py", "print('v2')\n")
    stack.rebuild("app-app", "postinstall.py", "print('v2')\n")
    real_commit = packing_module.commit
    renamed: list[str] = []

    def crash_after_first_archive(temporary: Path, final: Path) -> None:
        # File indexes and SBOMs are committed first.
        index = final.name.endswith((".files.json.gz", ".cdx.json"))
        if renamed and not index:
            raise OSError(5, "Input/output error")  # the machine dies here
        real_commit(temporary, final)
        if not index:
            renamed.append(final.name)

    monkeypatch.setattr(packing_module, "commit", crash_after_first_archive)
    with pytest.raises(OSError, match="Input/output"):
        stack.publish()

    # The framework archive was replaced; the manifest on disk never names a mismatched file.
    assert renamed == ["framework-fw@1.tar.zst"]
    manifest = _json(_meta(output) / "venvstacks.json")
    assert _valid(output, manifest) == ["cpython-3.12.tar.zst"]
    monkeypatch.undo()
    healed = stack.publish()
    # The framework's archive and snippet were both written before the crash: kept as they are.
    assert [item.status for item in healed.layers] == ["unchanged", "unchanged", "published"]
    assert len(_valid(output, healed.manifest)) == 3
    assert not [p for p in output.iterdir() if p.name.startswith(".envstacks")]


def test_layers_without_valid_lock_or_build_are_refused(stack: Stack):
    states = dict(stack.lock_states)
    stale = lock_state(stack.layer("app-app"))
    states["app-app"] = type(stale)(
        **{
            **{f: getattr(stale, f) for f in stale.__slots__},
            "has_valid_lock": False,
            "reasons": ("requirements changed",),
        }
    )
    with pytest.raises(
        PublishError, match=r"'app-app' .*without a valid lock: requirements changed"
    ):
        stack.publish(lock_states=states)
    (stack.spec.settings.build_dir / "framework-fw.last-build.json").unlink()
    with pytest.raises(NotBuiltError, match=r"'framework-fw' .* is not built"):
        stack.publish()
    with pytest.raises(SpecError, match=r"did you mean 'tar\.xz'"):
        stack.publish(format_name="tar.gz")


def test_tar_zst_packs_one_layer_at_a_time_unless_jobs_says_otherwise() -> None:
    from envstacks.published.archive_formats import BUILTIN_FORMATS

    get_format = BUILTIN_FORMATS.__getitem__  # the format objects publish uses
    # tar.zst compresses on every core: two packs at once only add a compressor's memory.
    assert packing_module.packs_at_once(get_format("tar.zst"), None, 5) == 1
    assert packing_module.packs_at_once(get_format("tar.zst"), 3, 5) == 3
    # Single-threaded formats still pack one layer per core.
    cores = os.cpu_count() or 1
    assert packing_module.packs_at_once(get_format("tar.xz"), None, 5) == min(cores, 5)
    assert packing_module.packs_at_once(get_format("zip"), None, 1) == 1
