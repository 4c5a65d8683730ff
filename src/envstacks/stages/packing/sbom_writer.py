"""Write each packed layer's SBOM: a CycloneDX 1.6 JSON document of what that layer installs.

The document (named by :mod:`envstacks.published.layer_sbom`) has the layer as its root
component (``metadata.component``); as components, every distribution installed in the
layer's own ``site-packages`` (read from its ``*.dist-info``: name, version, summary, licences)
with its ``pkg:pypi`` purl and, from the layer's lock, the sha256 of the wheel installed and
the index it came from; for a runtime layer, CPython itself (version, build, compiler, the
provider and source it came from, as recorded when it was provisioned,
:mod:`envstacks.stages.runtime.provenance`); and each lower
layer, linked to its own SBOM by a BOM link (``urn:cdx:<serial>/1``), never repeating its
distributions. Its time stamp is the lock's; its components, properties and keys are sorted:
publishing the same build again writes the same bytes.

The JSON is written here, by hand, rather than with ``cyclonedx-python-lib``: the format is a
few plain objects, and the library would add itself and four more packages to every install
of envstacks for them. The tests validate every document against the CycloneDX 1.6 schema with
the library's validator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from envstacks import __version__
from envstacks.floor.errors import EnvStacksError, LockError
from envstacks.floor.fs import fsync_file, json_sha256, temporary_name
from envstacks.floor.layer_kinds import LayerKind
from envstacks.published.layer_config import read_layer_config, site_dir
from envstacks.published.layer_sbom import SPEC_VERSION, bom_link, sbom_name, serial_number
from envstacks.published.publish_folder import PublishFolder
from envstacks.stages.building.build_record import require_current_build
from envstacks.stages.building.layer_description import LockInfo, describe_built_layer
from envstacks.stages.locking.pylock import LockedLayer, LockedPackage, LockedWheel, read_lock
from envstacks.stages.packing.archiving import PackedLayer
from envstacks.stages.runtime.provenance import read_provenance
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, RuntimeSpec, StackSpec

__all__ = ["add_sboms", "layer_sbom"]

#: CycloneDX component types of the layers.
_LAYER_TYPES = {
    LayerKind.RUNTIME: "platform",
    LayerKind.FRAMEWORK: "framework",
    LayerKind.APPLICATION: "application",
}
#: Licence classifiers that name exactly one SPDX licence (the others keep their words).
_CLASSIFIER_IDS = {
    "Apache Software License": "Apache-2.0",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "ISC License (ISCL)": "ISC",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "zlib/libpng License": "Zlib",
}
#: The tool that wrote the SBOM.
_TOOL = {"type": "application", "name": "envstacks", "version": __version__}
#: A ``License`` field longer than this (or on several lines) is a licence text, not a name.
_MAX_LICENSE_NAME = 100


def add_sboms(
    spec: StackSpec,
    packed: Sequence[PackedLayer],
    folder: PublishFolder,
    lock_states: Mapping[str, LockInfo],
) -> list[PackedLayer]:
    """The packed layers, each with its SBOM written under a temporary name and named in ``sbom``.

    The SBOM is committed with the layer's other files, before its snippet. On failure every
    temporary of every layer is removed.
    """
    done: list[PackedLayer] = []
    temporary: Path | None = None
    try:
        if packed:
            folder.sbom_dir.mkdir(parents=True, exist_ok=True)
        for item in packed:
            data = layer_sbom(spec, item.plan.layer, item.plan.request, lock_states)
            final = folder.sbom_dir / sbom_name(str(item.plan.request["archive_name"]))
            temporary = final.parent / temporary_name(final.name)
            temporary.write_bytes(data)
            fsync_file(temporary)
            extras = dataclasses.replace(
                item.extras, files=(*item.extras.files, (temporary, final))
            )
            field = {"name": final.name, "size": len(data), "sha256": _sha256(data)}
            done.append(
                dataclasses.replace(item, metadata={**item.metadata, "sbom": field}, extras=extras)
            )
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        for item in [*done, *packed[len(done) :]]:
            item.discard()
        raise
    return done


def layer_sbom(
    spec: StackSpec,
    layer: LayerSpec,
    request: Mapping[str, Any],
    lock_states: Mapping[str, LockInfo],
) -> bytes:
    """The CycloneDX 1.6 JSON document of a built layer, for its publish ``request``."""
    install_target = str(request["install_target"])
    root_ref = _layer_ref(install_target)
    platform = str(request["target_platform"])
    build = require_current_build(spec, layer, requirements_hash=request["requirements_hash"])
    env = stack_paths.env_path(spec, layer)
    components = _distributions(env / _site_dir(env, build.runtime_version), _lock(spec, layer))
    if isinstance(layer, RuntimeSpec):
        components.append(_cpython(env, layer, build.runtime_version))
    for lower in spec.dependencies(layer):
        components.append(_lower_layer(spec, lower, lock_states, platform=platform))
    components.sort(key=lambda component: str(component["bom-ref"]))
    return _dumps(
        {
            "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": SPEC_VERSION,
            "serialNumber": serial_number(install_target, str(request["build_inputs_hash"])),
            "version": 1,
            "metadata": {
                "timestamp": request["locked_at"],
                "tools": {"components": [_TOOL]},
                "component": {
                    "type": _LAYER_TYPES[layer.kind],
                    "bom-ref": root_ref,
                    "name": install_target,
                    "version": str(request["lock_version"]),
                    "description": f"{layer.kind.value} layer {layer.build_name!r}",
                    "properties": _properties(
                        {
                            f"envstacks:{key}": request.get(key)
                            for key in (
                                "layer_name",
                                "target_platform",
                                "python_implementation",
                                "requirements_hash",
                                "build_inputs_hash",
                                "app_launch_module",
                            )
                        }
                    ),
                },
            },
            "components": components,
            "dependencies": [
                {"ref": root_ref, "dependsOn": [str(item["bom-ref"]) for item in components]}
            ],
        }
    )


def _site_dir(env: Path, py_version: str) -> str:
    """The layer's own ``site-packages``, as its layer config names it (else the POSIX one)."""
    try:
        return read_layer_config(env).site_dir
    except EnvStacksError:
        return site_dir(py_version)


def _lock(spec: StackSpec, layer: LayerSpec) -> LockedLayer:
    """The layer's lock (a layer whose lock is valid has one; none: no lock data to add)."""
    try:
        return read_lock(spec, layer)
    except LockError:
        return LockedLayer(layer=layer.build_name, path=stack_paths.pylock_path(spec, layer))


def _dumps(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _layer_ref(install_target: str) -> str:
    return f"layer:{install_target}"


def _properties(values: Mapping[str, object]) -> list[dict[str, str]]:
    """CycloneDX properties, sorted by name, leaving out missing values."""
    return [
        {"name": name, "value": str(value)}
        for name, value in sorted(values.items())
        if value is not None and value != ""
    ]


def _distributions(site: Path, locked: LockedLayer) -> list[dict[str, Any]]:
    """A component per ``*.dist-info`` in the layer's own ``site-packages``."""
    if not site.is_dir():
        return []
    return [_distribution(info, locked) for info in sorted(site.glob("*.dist-info"))]


def _distribution(info: Path, locked: LockedLayer) -> dict[str, Any]:
    metadata = _headers(info / "METADATA")
    name = metadata.get("Name") or info.name.removesuffix(".dist-info").partition("-")[0]
    version = metadata.get("Version") or info.name.removesuffix(".dist-info").partition("-")[2]
    purl = f"pkg:pypi/{canonicalize_name(name)}@{quote(version, safe='')}"
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl,
        "name": name,
        "version": version,
        "purl": purl,
    }
    if metadata.get("Summary"):
        component["description"] = metadata["Summary"]
    licenses = _licenses(metadata)
    if licenses:
        component["licenses"] = licenses
    entry = _lock_entry(locked, name, version)
    wheel = _installed_wheel(entry, info) if entry is not None else None
    sha = wheel.hashes.get("sha256") if wheel is not None else None
    if sha:
        component["hashes"] = [{"alg": "SHA-256", "content": sha}]
    if wheel is not None and wheel.url:
        component["externalReferences"] = [{"type": "distribution", "url": wheel.url}]
    component["properties"] = _properties(
        {
            "envstacks:package:index": entry.index if entry is not None else None,
            "envstacks:package:wheel": wheel.name if wheel is not None else None,
            "envstacks:package:project": "true" if entry is not None and entry.project else None,
            "envstacks:package:locked": "false" if entry is None else None,
        }
    )
    return component


def _headers(path: Path) -> Message:
    """The core metadata fields of a distribution (an empty message if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return HeaderParser().parsestr(text)


def _licenses(metadata: Message) -> list[dict[str, Any]]:
    """``License-Expression``, else the licence classifiers, else a short ``License`` field."""
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        return [{"expression": expression}]
    found: dict[str, dict[str, Any]] = {}
    for classifier in metadata.get_all("Classifier") or ():
        parts = [part.strip() for part in str(classifier).split("::")]
        if len(parts) < 3 or parts[0] != "License":  # "License :: OSI Approved" names none
            continue
        spdx = _CLASSIFIER_IDS.get(parts[-1])
        found[spdx or parts[-1]] = {"license": {"id": spdx} if spdx else {"name": parts[-1]}}
    if found:
        return [found[key] for key in sorted(found)]
    text = (metadata.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= _MAX_LICENSE_NAME and text != "UNKNOWN":
        return [{"license": {"name": text}}]
    return []


def _lock_entry(locked: LockedLayer, name: str, version: str) -> LockedPackage | None:
    """The lock entry this layer installed the distribution from (same name and version)."""
    key = canonicalize_name(name)
    entries = [pkg for pkg in locked.packages if pkg.key == key and not pkg.shared]
    exact = [pkg for pkg in entries if pkg.version == version]
    if exact:
        return exact[0]
    return next((pkg for pkg in entries if pkg.project), None)


def _installed_wheel(entry: LockedPackage, info: Path) -> LockedWheel | None:
    """The wheel of ``entry`` whose tags are those the installed ``WHEEL`` file lists."""
    if len(entry.wheels) == 1:
        return entry.wheels[0]
    installed = {str(value).strip() for value in (_headers(info / "WHEEL").get_all("Tag") or ())}
    for wheel in entry.wheels:
        try:
            tags: frozenset[Tag] = parse_wheel_filename(wheel.name)[3]
        except InvalidWheelFilename:
            continue
        if installed and {str(tag) for tag in tags} == installed:
            return wheel
    return None


def _cpython(env: Path, runtime: RuntimeSpec, version: str) -> dict[str, Any]:
    """The runtime's interpreter: version, build, compiler, and where it came from."""
    origin = read_provenance(env)
    implementation = origin.get("implementation", runtime.implementation)
    component: dict[str, Any] = {
        "type": "application",
        "bom-ref": f"runtime:{implementation}@{version}",
        "name": implementation,
        "version": version,
        "properties": _properties(
            {
                "envstacks:python:build": origin.get("build"),
                "envstacks:python:compiler": origin.get("compiler"),
                "envstacks:runtime:provider": origin.get("provider"),
                "envstacks:runtime:source": origin.get("source"),
            }
        ),
    }
    if origin.get("sys_version"):
        component["description"] = origin["sys_version"]
    if implementation == "cpython":
        component["cpe"] = f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*"
    return component


def _lower_layer(
    spec: StackSpec, lower: LayerSpec, lock_states: Mapping[str, LockInfo], *, platform: str
) -> dict[str, Any]:
    """A lower layer, linked to its own SBOM (whose serial number follows from its build)."""
    built = describe_built_layer(spec, lower, lock_states, platform=platform)
    install_target = str(built.metadata["install_target"])
    serial = serial_number(install_target, json_sha256(dict(built.build.inputs)))
    return {
        "type": _LAYER_TYPES[lower.kind],
        "bom-ref": _layer_ref(install_target),
        "name": install_target,
        "version": str(built.metadata["lock_version"]),
        "externalReferences": [
            {
                "type": "bom",
                "url": bom_link(serial),
                "comment": f"the SBOM of layer {install_target!r} lists what it installs",
            }
        ],
    }
