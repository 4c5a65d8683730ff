"""``envstacks merge``: publish folders of several platforms in one folder that deploy reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import PublishError
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.distribution import deploy, merge
from kits.http_server import QuietHandler, serve
from kits.layers import FRAMEWORK, RUNTIME, Layer, Publisher, default_layers

HOST = host_platform()
OTHER = "win_amd64" if not HOST.startswith("win") else "linux_x86_64"


def _tagged(folder: Path, platform: str) -> Path:
    """Turn a publish folder into what ``publish --tag-outputs`` on ``platform`` writes."""
    meta = folder / "__venvstacks__"
    manifest = json.loads((meta / "venvstacks.json").read_text())
    for entries in manifest["layers"].values():
        for entry in entries:
            name = f"{entry['install_target']}-{platform}-1.tar.zst"
            (folder / entry["archive_name"]).rename(folder / name)
            entry.update(archive_name=name, target_platform=platform)
    (meta / "venvstacks.json").unlink()
    (meta / f"venvstacks-{platform}.json").write_text(json.dumps(manifest))
    return folder


def _merge(*inputs: Path, output: Path) -> Any:
    return merge(list(inputs), output, reporter=RecordingReporter())


@pytest.fixture
def two_platforms(tmp_path: Path, publish_layers_to: Publisher) -> tuple[Path, Path]:
    host = _tagged(publish_layers_to(tmp_path / "host"), HOST)
    # Another platform's build: other content (its own module text), other names.
    layers = [Layer(x.install_target, x.kind, required=x.required) for x in default_layers()]
    for layer in layers:
        layer.files = {"lib/python3.12/site-packages/platform.txt": OTHER}
    other = _tagged(publish_layers_to(tmp_path / "other", layers), OTHER)
    return host, other


def test_merged_folder_deploys_this_platforms_archives_over_http(
    tmp_path: Path, two_platforms: tuple[Path, Path], pm: Any
):
    host, other = two_platforms
    merged = tmp_path / "merged"
    result = _merge(host, other, output=merged)
    meta = merged / "__venvstacks__"
    assert dict(result.manifests) == {
        HOST: f"__venvstacks__/venvstacks-{HOST}.json",
        OTHER: f"__venvstacks__/venvstacks-{OTHER}.json",
    }
    index = json.loads((meta / "venvstacks.json").read_text())
    platforms = {e["target_platform"] for es in index["layers"].values() for e in es}
    assert platforms == {HOST, OTHER}
    assert (meta / "env_metadata" / f"app-one-{OTHER}.json").is_file()
    # Archives are hard links of the inputs' (nothing is copied twice).
    archive = f"{RUNTIME}-{HOST}-1.tar.zst"
    assert (merged / archive).stat().st_ino == (host / archive).stat().st_ino

    target = tmp_path / "deployed"
    with serve(merged, QuietHandler) as url:
        deployed = deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert deployed.source == f"{url}__venvstacks__/venvstacks-{HOST}.json"
    assert set(deployed.installed) == {RUNTIME, FRAMEWORK, "app-one", "app-two@2"}
    assert not (target / "app-one" / "lib/python3.12/site-packages/platform.txt").exists()

    # The index of every platform deploys too: this machine's entries are picked.
    from_index = deploy(
        meta / "venvstacks.json", tmp_path / "t2", pm=pm, reporter=RecordingReporter()
    )
    assert set(from_index.installed) == set(deployed.installed)

    # Merging again (the merged folder as an input) changes nothing and copies nothing.
    again = _merge(merged, host, other, output=merged)
    assert again.copied == ()


def test_inputs_that_disagree_about_a_layer_are_refused(
    tmp_path: Path, two_platforms: tuple[Path, Path], publish_layers_to: Publisher
):
    host, _ = two_platforms
    layers = default_layers()
    layers[2].files = {"extra.txt": "rebuilt"}
    rebuilt = _tagged(publish_layers_to(tmp_path / "rebuilt", layers), HOST)
    with pytest.raises(PublishError, match=r"disagree about layer 'app-one' for " + HOST):
        _merge(host, rebuilt, output=tmp_path / "merged")
    assert not list((tmp_path / "merged").glob("*.tar.zst"))


def test_untagged_folders_of_two_platforms_are_refused_with_the_fix(
    tmp_path: Path, publish_layers_to: Publisher
):
    one = publish_layers_to(tmp_path / "one")
    layers = default_layers()
    layers[0].files = {"x.txt": "other"}
    two = publish_layers_to(tmp_path / "two", layers)
    manifest = two / "__venvstacks__" / "venvstacks.json"
    data = json.loads(manifest.read_text())
    for entries in data["layers"].values():
        for entry in entries:
            entry["target_platform"] = OTHER
    manifest.write_text(json.dumps(data))
    with pytest.raises(PublishError, match="different files named") as caught:
        _merge(one, two, output=tmp_path / "merged")
    assert "--tag-outputs" in (caught.value.hint or "")


def test_a_damaged_input_archive_is_refused(tmp_path: Path, two_platforms: tuple[Path, Path]):
    host, other = two_platforms
    archive = other / f"app-one-{OTHER}-1.tar.zst"
    archive.write_bytes(archive.read_bytes()[:-1] + b"\0")
    with pytest.raises(PublishError, match=r"not the .* bytes with sha256"):
        _merge(host, other, output=tmp_path / "merged")


def test_merge_command_line(tmp_path: Path, two_platforms: tuple[Path, Path], capsys: Any):
    host, other = two_platforms
    shutil.rmtree(tmp_path / "merged", ignore_errors=True)
    status = main(["merge", str(host), str(other), "--output-dir", str(tmp_path / "m"), "--json"])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(printed["manifests"]) == sorted([HOST, OTHER])
    assert main(["merge", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "m")]) == 1
    assert "holds no manifest" in capsys.readouterr().err
