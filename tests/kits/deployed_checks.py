"""The checks venvstacks' test suite makes of deployed or exported layers (its ``support.py``).

For every layer a folder's ``__venvstacks__/venvstacks.json`` lists: its ``sys.path`` entries
are absolute and exist; a runtime's stay inside it, a framework's or application's inside the
deployment folder and reach outside the layer (its runtime and frameworks by name); no hidden
file sits at its top; an application's launch module prints the expected line and nothing on
stderr, and its support modules run silently.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Where a layer keeps its config (venvstacks' name, which envstacks keeps).
LAYER_CONFIG = Path("share/venv/metadata/venvstacks_layer.json")


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _python(layer: Path) -> Path:
    config = json.loads((layer / LAYER_CONFIG).read_text("utf-8"))
    return layer / config["python"]


def run_module(layer: Path, module: str) -> subprocess.CompletedProcess[str]:
    """``<layer python> -X utf8 -Im <module>``, as upstream's ``run_module`` runs it."""
    return subprocess.run(
        [_python(layer), "-X", "utf8", "-Im", module],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
    )


def sys_path(layer: Path) -> list[str]:
    """The layer interpreter's ``sys.path``."""
    done = subprocess.run(
        [_python(layer), "-X", "utf8", "-Ic", "import json, sys; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    )
    return list(json.loads(done.stdout))


def _inside(path: Path, base: Path) -> bool:
    return path.is_relative_to(base) or path.is_relative_to(base.resolve())


def _check_sys_path(layer: Path, entries: Sequence[str], *, self_contained: bool) -> None:
    paths = [Path(entry) for entry in entries]
    assert paths and all(path.is_absolute() for path in paths), entries
    missing = [path for path in paths if not path.suffix and not path.exists()]
    assert not missing, f"{layer.name}: missing sys.path entries {missing}"
    if self_contained:
        assert all(_inside(path, layer) for path in paths), (layer, entries)
    else:
        assert all(_inside(path, layer.parent) for path in paths), (layer, entries)
        assert not all(_inside(path, layer) for path in paths), (layer, entries)


def manifest_layers(folder: Path, manifest_name: str = "venvstacks.json") -> Mapping[str, Any]:
    """The ``layers`` of the folder's manifest."""
    path = folder / "__venvstacks__" / manifest_name
    return dict(json.loads(path.read_text("utf-8"))["layers"])


def check_deployed(
    folder: Path, layers: Mapping[str, Sequence[Mapping[str, Any]]], expected_output: str
) -> None:
    """Upstream's ``check_deployed_environments`` for the layers deployed in ``folder``."""
    for kind in ("runtimes", "frameworks", "applications"):
        for metadata in layers.get(kind, ()):
            name = metadata["install_target"]
            layer = folder / name
            entries = sys_path(layer)
            _check_sys_path(layer, entries, self_contained=kind == "runtimes")
            assert not list(layer.glob(".*")), f"hidden files at the top of {layer}"
            if kind == "runtimes":
                continue
            runtime = ".".join(metadata["runtime_layer"].split(".")[:2])
            for expected in (name, runtime, *metadata.get("required_layers", ())):
                assert any(expected in entry for entry in entries), (expected, entries)
            if kind != "applications":
                continue
            config = json.loads((layer / LAYER_CONFIG).read_text("utf-8"))
            assert config["launch_module"] == metadata["app_launch_module"]
            launched = run_module(layer, metadata["app_launch_module"])
            assert (launched.stdout.rstrip(), launched.stderr) == (expected_output, ""), launched
            for module in metadata.get("app_support_modules", ()):
                ran = run_module(layer, module["name"])
                assert (ran.stdout.rstrip(), ran.stderr) == ("", ""), ran
