"""Decide which entry-point scripts a layer exposes, and record them for ``postinstall.py``.

Installing into a layer writes ``bin/`` scripts whose shebangs name the build folder, so the
portability clean-up removes them. What a deployed layer needs instead is recorded at build
time in ``share/venv/metadata/envstacks_scripts.json`` (``{"console_scripts": {name: entry
point}, "gui_scripts": {...}}``, sorted), and the layer's ``postinstall.py`` writes a launcher
``bin/<name>`` for each one where the layer is deployed or exported, running the layer's own
interpreter (so the script sees the lower layers too).

Which scripts: an application exposes the scripts of the distributions installed in it, a
framework or runtime none, unless the layer's ``scripts`` key lists names; those may come from
the layer's own distributions or from a lower layer's (the nearest one wins, in ``sys.path``
order), and ``scripts = []`` exposes none. Within one layer, two distributions declaring the
same name resolve to the first by distribution name, with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib.metadata import PathDistribution
from pathlib import Path

from envstacks._injected.postinstall import (
    SCRIPT_GROUPS,
    PostInstallError,
    launcher_text,
    usable_script_name,
)
from envstacks.floor.errors import BuildError
from envstacks.floor.fs import write_text
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import SCRIPTS_CONFIG, site_dir
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import ApplicationSpec, LayerSpec, StackSpec

__all__ = ["available_scripts", "layer_scripts", "write_scripts_config"]

#: ``{group: {name: entry point}}``.
Scripts = dict[str, dict[str, str]]


def available_scripts(site: Path, *, reporter: Reporter, layer: str) -> dict[str, tuple[str, str]]:
    """``{name: (group, entry point)}`` of the distributions installed in ``site``."""
    found: dict[str, tuple[str, str]] = {}
    owners: dict[str, str] = {}
    for info in sorted(site.glob("*.dist-info")):
        dist = PathDistribution(info)
        project = dist.metadata["Name"] or info.name
        for entry in sorted(dist.entry_points, key=lambda item: (item.group, item.name)):
            if entry.group not in SCRIPT_GROUPS:
                continue
            if entry.name in found:
                reporter.warning(
                    f"{layer}: {project} and {owners[entry.name]} both declare the script "
                    f"{entry.name!r}; the launcher runs {owners[entry.name]}'s"
                )
                continue
            found[entry.name] = (entry.group, entry.value)
            owners[entry.name] = project
    return found


def layer_scripts(
    spec: StackSpec, layer: LayerSpec, env: Path, *, py_version: str, reporter: Reporter
) -> Scripts:
    """The scripts ``layer`` (built at ``env``) exposes, by group.

    Raises:
        BuildError: the ``scripts`` key names a script no distribution in the layer or below
            it declares, or an entry point is not ``module:object``.
    """
    sites = site_dir(py_version)
    own = available_scripts(env / sites, reporter=reporter, layer=layer.build_name)
    if layer.scripts is None:
        chosen = own if isinstance(layer, ApplicationSpec) else {}
    else:
        lower = [
            available_scripts(
                stack_paths.env_path(spec, dep) / sites, reporter=reporter, layer=dep.build_name
            )
            for dep in spec.dependencies(layer)
        ]
        chosen = {name: _find(layer, name, [own, *lower]) for name in layer.scripts}
    scripts: Scripts = {group: {} for group in SCRIPT_GROUPS}
    for name, (group, value) in sorted(chosen.items()):
        problem = _problem(group, name, value)
        if problem and layer.scripts is not None:
            raise BuildError(
                f"{layer.toml_path}.scripts: {problem}",
                hint=f"leave {name!r} out of the layer's scripts",
            )
        if problem:
            reporter.warning(f"{layer.build_name}: no launcher for {problem}")
            continue
        scripts[group][name] = value
    return scripts


def _find(
    layer: LayerSpec, name: str, layers: Iterable[Mapping[str, tuple[str, str]]]
) -> tuple[str, str]:
    everything: set[str] = set()
    for available in layers:
        if name in available:
            return available[name]
        everything |= set(available)
    known = ", ".join(sorted(everything)) or "none"
    raise BuildError(
        f"{layer.toml_path}.scripts: no distribution in layer '{layer.build_name}' or below it "
        f"declares a console or GUI script {name!r} (available: {known})",
        hint="list only scripts of installed distributions (or add the distribution "
        "that provides it to the layer's requirements)",
    )


def _problem(group: str, name: str, value: str) -> str:
    """Why ``name = value`` cannot become a launcher (empty: it can)."""
    if not usable_script_name(name):
        return f"the {group} entry point {name!r}: not usable as a file name in bin/"
    try:
        launcher_text(group, name, value, "bin/python")
    except PostInstallError as exc:
        return str(exc)
    return ""


def write_scripts_config(env: Path, scripts: Scripts) -> Path:
    """Write the layer's scripts record (replacing, never editing, an earlier one)."""
    path = env / SCRIPTS_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(scripts, indent=2, sort_keys=True) + "\n")
    return path
