"""Every published layer's SBOM, on a really built and published stack (``real_publishes``).

Each SBOM is validated against the CycloneDX 1.6 JSON schema with ``cyclonedx-python-lib``'s
strict validator; the split is checked (a distribution appears only in the SBOM of the layer
that installs it, lower layers only as links to their own SBOMs), and the fields that come
from the lock (wheel sha256) and the build (the runtime's CPython) are compared with their
sources.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.folder_manifests import listed_files, read_folder
from envstacks.stages.locking import LockedLayer, LockedPackage, LockedWheel, lock_states, read_lock
from envstacks.stages.packing import sbom_writer
from envstacks.stages.packing.publisher import PublishOptions, publish_layers
from envstacks.stages.stackspec import load
from kits.clib_stack import LAYERS
from kits.publishes import Publishes

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def _sboms(folder: Path, manifest: str) -> dict[str, tuple[dict[str, Any], bytes]]:
    """Each layer's SBOM (parsed and raw) by deployed name, checked against its entry."""
    data = json.loads((folder / "__venvstacks__" / manifest).read_text(encoding="utf-8"))
    found = {}
    for entries in data["layers"].values():
        for entry in entries:
            field = entry["sbom"]
            raw = (folder / "__venvstacks__" / "sbom" / field["name"]).read_bytes()
            assert (len(raw), hashlib.sha256(raw).hexdigest()) == (field["size"], field["sha256"])
            assert field["name"] == entry["archive_name"] + ".cdx.json"
            found[entry["install_target"]] = (json.loads(raw), raw)
    return found


def _purls(document: dict[str, Any]) -> set[str]:
    return {c["purl"] for c in document["components"] if "purl" in c}


def test_every_layer_sbom_is_valid_cyclonedx_1_6(real_publishes: Publishes) -> None:
    host = host_platform()
    for folder, manifest in (
        (real_publishes.untagged_v1, "venvstacks.json"),
        (real_publishes.tagged_v1, f"venvstacks-{host}.json"),
        (real_publishes.tagged_v2, f"venvstacks-{host}.json"),
    ):
        sboms = _sboms(folder, manifest)
        assert sorted(sboms) == sorted(LAYERS)
        for name, (document, raw) in sboms.items():
            error = VALIDATOR.validate_str(raw.decode("utf-8"))
            assert error is None, f"{folder.name}/{name}: {error}"
            assert document["specVersion"] == "1.6"
            assert document["metadata"]["component"]["name"] == name


def test_each_distribution_is_in_the_sbom_of_its_own_layer_only(real_publishes: Publishes) -> None:
    sboms = {
        name: doc
        for name, (doc, _raw) in _sboms(real_publishes.untagged_v1, "venvstacks.json").items()
    }
    runtime, framework, app = (sboms[name] for name in LAYERS)
    spec = load(real_publishes.project / "pyproject.toml")
    by_purl: dict[str, list[str]] = {}
    for name, document in sboms.items():
        for purl in _purls(document):
            by_purl.setdefault(purl, []).append(name)
    assert {purl: names for purl, names in by_purl.items() if len(names) > 1} == {}
    assert "pkg:pypi/demo-lib@1.0" in _purls(framework)
    assert "pkg:pypi/demo-ext@1.0" in _purls(app)
    assert "pkg:pypi/demo-rt@1.0" in _purls(runtime)
    # The runtime's own distributions (whatever its site-packages holds) stay in its SBOM.
    runtime_dir = spec.settings.build_dir / "cpython-3.12"
    shipped = {
        p.name.split("-")[0].lower().replace("_", "-")
        for p in runtime_dir.glob("lib/python3.12/site-packages/*.dist-info")
    }
    assert {purl.split("/")[1].split("@")[0] for purl in _purls(runtime)} == shipped
    # The wheel's sha256 and index come from the layer's lock.
    locked = read_lock(spec, spec.layer("framework-clib")).package("demo-lib")
    assert locked is not None
    demo_lib = next(c for c in framework["components"] if c.get("purl") == "pkg:pypi/demo-lib@1.0")
    assert demo_lib["hashes"] == [{"alg": "SHA-256", "content": locked.wheels[0].hashes["sha256"]}]
    # Lower layers: linked to their own SBOMs by serial number, never repeated.
    serials = {name: doc["serialNumber"] for name, doc in sboms.items()}
    links = {
        c["name"]: c["externalReferences"][0]["url"]
        for c in app["components"]
        if c["bom-ref"].startswith("layer:")
    }
    assert links == {
        name: f"urn:cdx:{serials[name].removeprefix('urn:uuid:')}/1" for name in LAYERS[:2]
    }
    assert {d["ref"] for d in app["dependencies"]} == {"layer:app-useext"}
    assert set(app["dependencies"][0]["dependsOn"]) == {c["bom-ref"] for c in app["components"]}


def test_licences_come_from_each_distributions_metadata(real_publishes: Publishes) -> None:
    sboms = _sboms(real_publishes.untagged_v1, "venvstacks.json")
    licences = {
        c["name"]: c.get("licenses")
        for name in LAYERS
        for c in sboms[name][0]["components"]
        if "purl" in c
    }
    assert licences["demo-rt"] == [{"expression": "MIT OR Apache-2.0"}]  # License-Expression
    assert licences["demo-lib"] == [{"license": {"id": "MIT"}}]  # a classifier
    assert licences["demo-ext"] == [{"license": {"name": "Demo Licence 1.0"}}]  # License


def test_runtime_sbom_lists_cpython_and_where_it_came_from(real_publishes: Publishes) -> None:
    sboms = _sboms(real_publishes.untagged_v1, "venvstacks.json")
    runtime = sboms["cpython-3.12"][0]
    cpython = next(c for c in runtime["components"] if c["name"] == "cpython")
    assert cpython["version"].startswith("3.12.")
    assert cpython["cpe"] == f"cpe:2.3:a:python:python:{cpython['version']}:*:*:*:*:*:*:*"
    properties = {p["name"]: p["value"] for p in cpython["properties"]}
    assert properties["envstacks:runtime:provider"] == "local"
    assert properties["envstacks:python:build"]
    assert properties["envstacks:python:compiler"]
    assert runtime["metadata"]["component"]["type"] == "platform"
    for name in LAYERS[1:]:  # the interpreter is the runtime's alone
        assert all(c["name"] != "cpython" for c in sboms[name][0]["components"])


def test_sboms_are_reproducible_and_carried_by_merge_listing(
    real_publishes: Publishes, tmp_path: Path
) -> None:
    # The v1 untagged and tagged publishes of one build: same SBOM bytes (no time stamps).
    untagged = _sboms(real_publishes.untagged_v1, "venvstacks.json")
    tagged = _sboms(real_publishes.tagged_v1, f"venvstacks-{host_platform()}.json")
    assert {n: raw for n, (_d, raw) in untagged.items()} == {
        n: raw for n, (_d, raw) in tagged.items()
    }
    # A forced republish of the same build writes the same bytes again.
    copy = tmp_path / "again"
    shutil.copytree(real_publishes.untagged_v1, copy)
    spec = load(real_publishes.project / "pyproject.toml")
    publish_layers(
        spec,
        spec.enabled_layers,
        PublishOptions(output_dir=copy, force=True, format_name="tar.zst"),
        lock_states=lock_states(spec),
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=RecordingReporter(),
    )
    # (the project was rebuilt for version 2 since: compare with version 2's publish)
    again = _sboms(copy, "venvstacks.json")
    second = _sboms(real_publishes.tagged_v2, f"venvstacks-{host_platform()}.json")
    assert {n: raw for n, (_d, raw) in again.items()} == {n: raw for n, (_d, raw) in second.items()}
    # Merge and push read the SBOM as a file the entry names.
    platforms = read_folder(real_publishes.tagged_v1, verb="merge")
    entries = platforms[host_platform()].entries
    kinds = {(f.kind, f.install_target) for e in entries for f in listed_files(e, verb="merge")}
    assert {("sbom", name) for name in LAYERS} <= kinds


def test_a_layer_published_without_an_sbom_is_published_again(
    real_publishes: Publishes, tmp_path: Path
) -> None:
    copy = tmp_path / "old"
    shutil.copytree(real_publishes.untagged_v1, copy)
    shutil.rmtree(copy / "__venvstacks__" / "sbom")
    spec = load(real_publishes.project / "pyproject.toml")
    result = publish_layers(
        spec,
        spec.enabled_layers,
        PublishOptions(output_dir=copy, format_name="tar.zst"),
        lock_states=lock_states(spec),
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=RecordingReporter(),
    )
    assert [item.status for item in result.layers] == ["published"] * 3
    assert sorted(_sboms(copy, "venvstacks.json")) == sorted(LAYERS)


def test_show_sbom_prints_the_published_file(
    real_publishes: Publishes, capsys: pytest.CaptureFixture[str]
) -> None:
    project = real_publishes.project / "pyproject.toml"
    output = str(real_publishes.tagged_v1)
    assert main(["-q", "show", str(project), "--output-dir", output, "--sbom", "app-useext"]) == 0
    (sbom,) = (real_publishes.tagged_v1 / "__venvstacks__" / "sbom").glob("app-useext*")
    assert capsys.readouterr().out == sbom.read_text(encoding="utf-8")
    assert main(["show", str(project), "--output-dir", output, "--sbom", "app-usext"]) == 1
    err = capsys.readouterr().err
    assert "no layer 'app-usext' (did you mean 'app-useext'?)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "the SBOM of layer 'framework-clib' cannot be read"),
        ("changed", "is not the SBOM the metadata of layer 'framework-clib' records"),
        ("unrecorded", "layer 'framework-clib' was published without an SBOM"),
        ("unpublished", "layer 'framework-clib' is not published in"),
    ],
)
def test_show_sbom_refuses_what_it_cannot_vouch_for(
    real_publishes: Publishes,
    tmp_path: Path,
    damage: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = tmp_path / "pub"
    shutil.copytree(real_publishes.untagged_v1, copy)
    project = real_publishes.project / "pyproject.toml"
    argv = ["show", str(project), "--output-dir", str(copy), "--sbom", "framework-clib"]
    assert main(["-q", *argv]) == 0
    (sbom,) = (copy / "__venvstacks__" / "sbom").glob("framework-clib*.cdx.json")
    snippet = copy / "__venvstacks__" / "env_metadata" / "framework-clib.json"
    if damage == "missing":
        sbom.unlink()
    elif damage == "changed":
        sbom.write_bytes(sbom.read_bytes().replace(b"demo-lib", b"demo-lab"))
    elif damage == "unrecorded":  # a publish made before envstacks wrote SBOMs
        data = json.loads(snippet.read_text(encoding="utf-8"))
        del data["sbom"]
        snippet.write_text(json.dumps(data), encoding="utf-8")
    else:
        snippet.unlink()
    capsys.readouterr()
    assert main(["-q", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert capsys.readouterr().out == ""


def test_a_distribution_gets_the_installed_wheel_and_index_from_the_lock(tmp_path: Path) -> None:
    # The real stack above is locked offline (local wheels: no index, no URL); this lock is
    # PyPI's shape: several wheels per package, the installed one told by its WHEEL tags.
    info = tmp_path / "demo_x-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Demo_X\nVersion: 2.0\nSummary: a demo\n"
        "Classifier: License :: OSI Approved :: BSD License\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
        "Classifier: License :: OSI Approved\n"
        "License: Copyright (c) the authors\n  all rights reserved\n",
        encoding="utf-8",
    )
    (info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nTag: cp312-cp312-manylinux_2_17_x86_64\n"
        "Tag: cp312-cp312-manylinux2014_x86_64\n",
        encoding="utf-8",
    )
    (tmp_path / "stray-1.0.dist-info").mkdir()  # installed, not locked: no metadata file
    base = "https://files.example/demo_x-2.0-cp312-cp312-"
    locked = LockedLayer(
        layer="app-x",
        path=tmp_path / "pylock.toml",
        packages=(
            LockedPackage(name="demo-x", version="1.0", shared=True),
            LockedPackage(
                name="demo-x",
                version="2.0",
                index="https://pypi.org/simple",
                wheels=(
                    LockedWheel(
                        name="demo_x-2.0-cp312-cp312-win_amd64.whl",
                        hashes={"sha256": "a" * 64},
                        url=base + "win_amd64.whl",
                    ),
                    LockedWheel(
                        name="demo_x-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                        hashes={"sha256": "b" * 64},
                        url=base + "manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                    ),
                ),
            ),
        ),
    )
    demo, stray = sbom_writer._distributions(tmp_path, locked)
    assert demo["purl"] == "pkg:pypi/demo-x@2.0"
    assert demo["description"] == "a demo"
    assert demo["hashes"] == [{"alg": "SHA-256", "content": "b" * 64}]
    assert demo["externalReferences"] == [
        {"type": "distribution", "url": base + "manylinux_2_17_x86_64.manylinux2014_x86_64.whl"}
    ]
    assert {p["name"]: p["value"] for p in demo["properties"]}["envstacks:package:index"] == (
        "https://pypi.org/simple"
    )
    # Classifiers as SPDX ids where they name exactly one licence, else their words.
    assert demo["licenses"] == [{"license": {"name": "BSD License"}}, {"license": {"id": "MIT"}}]
    assert stray["purl"] == "pkg:pypi/stray@1.0"
    assert "licenses" not in stray and "hashes" not in stray
    assert stray["properties"] == [{"name": "envstacks:package:locked", "value": "false"}]


def test_a_failing_sbom_leaves_no_file_and_the_manifest_unchanged(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The synthetic stack of conftest.py: published once, then its application changed.
    stack.publish()
    output = stack.spec.settings.output_dir
    before = {p.relative_to(output): p.read_bytes() for p in output.rglob("*") if p.is_file()}
    stack.rebuild("app-app", "postinstall.py", "print('v2')\n")
    written = sbom_writer.layer_sbom

    def fail_for_the_app(spec: Any, layer: Any, request: Any, lock_states: Any) -> bytes:
        if layer.build_name == "app-app":
            raise OSError(5, "Input/output error")
        return written(spec, layer, request, lock_states)

    monkeypatch.setattr(sbom_writer, "layer_sbom", fail_for_the_app)
    with pytest.raises(OSError, match="Input/output"):
        stack.publish(force=True)
    after = {p.relative_to(output): p.read_bytes() for p in output.rglob("*") if p.is_file()}
    assert after == before
