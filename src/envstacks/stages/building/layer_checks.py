"""Check a built layer without uv: what its lock says it should hold, and whether it starts.

* :func:`drift` compares the distributions in the layer's own ``site-packages`` with the
  lock entries that apply here (markers evaluated for the target platform and the runtime's
  version) and looks for the chaining files and application modules. ``build`` runs it on
  layers that look up to date, so a hand-modified environment gets repaired.
* :func:`smoke_test` starts the layer's interpreter and checks ``sys.path``: the layer's own
  ``site-packages``, then every lower layer's in linearised order, the runtime's last.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envstacks.floor import platforms, proc
from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import LayerConfig
from envstacks.stages.building.chain import link_problems
from envstacks.stages.locking.pylock import LockedLayer, LockedPackage


def applies(
    package: LockedPackage, *, platform: str, implementation: str, python_version: str
) -> bool:
    """Whether a lock entry's marker holds on ``platform`` with the runtime's Python."""
    if not package.marker:
        return True
    environment = platforms.marker_environment(
        platform, implementation=implementation, python_full_version=python_version
    )
    return Marker(package.marker).evaluate(dict(environment))


def installed_distributions(site_dir: Path) -> dict[str, str]:
    """``{normalised name: version}`` of the ``*.dist-info`` folders in ``site_dir``."""
    found: dict[str, str] = {}
    for info in site_dir.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[canonicalize_name(name)] = version
    return found


def _same_version(first: str, second: str) -> bool:
    try:
        return Version(first) == Version(second)
    except InvalidVersion:
        return first == second


def drift(
    env: Path,
    config: LayerConfig,
    locked: LockedLayer,
    *,
    platform: str,
    implementation: str,
    modules: tuple[str, ...] = (),
    expect_project: str | None = None,
) -> list[str]:
    """How the built environment differs from what its lock and build record say (empty: none)."""
    site_dir = env / config.site_dir
    problems: list[str] = []
    if not site_dir.is_dir():
        return [f"{config.site_dir} is missing"]
    expected: dict[str, str] = {
        package.key: package.version or ""
        for package in locked.installed
        if applies(
            package,
            platform=platform,
            implementation=implementation,
            python_version=config.py_version,
        )
    }
    present = installed_distributions(site_dir)
    if expect_project is not None:
        project = canonicalize_name(expect_project)
        if project not in present:
            problems.append(f"the project's distribution {expect_project!r} is not installed")
        present.pop(project, None)
    for name, version in sorted(expected.items()):
        if name not in present:
            problems.append(f"{name}=={version} is not installed")
        elif not _same_version(present[name], version):
            problems.append(f"{name} is {present[name]}, the lock says {version}")
    problems += [
        f"{name} is installed but not locked" for name in sorted(present.keys() - expected)
    ]
    if config.layered:
        problems += link_problems(env, config)
    problems += [
        f"application module {name!r} is missing"
        for name in modules
        if not (site_dir / name).exists()
    ]
    return problems


_SYS_PATH_SCRIPT = "import json, sys; print(json.dumps(sys.path))"


def smoke_test(env: Path, config: LayerConfig, *, layer: str, reporter: Reporter) -> None:
    """Run the layer's ``bin/python`` and check its ``sys.path`` order.

    Raises:
        BuildError: the interpreter does not start or ``sys.path`` is wrong.
    """
    python = env / config.python
    # -I: no user site or PYTHON* variables; -B: leave no __pycache__ behind in the layer.
    result = proc.run(
        [python, "-I", "-B", "-c", _SYS_PATH_SCRIPT],
        reporter=reporter,
        what=f"start the interpreter of layer '{layer}'",
        error=BuildError,
    )
    entries = [os.path.realpath(item) for item in json.loads(result.stdout)]
    wanted = [
        os.path.realpath(env / config.site_dir),
        *(os.path.realpath(env / item) for item in config.pylib_dirs),
    ]
    positions = [entries.index(item) if item in entries else -1 for item in wanted]
    if -1 in positions or positions != sorted(positions):
        raise BuildError(
            f"layer '{layer}': sys.path of {python} does not chain the layers in order.\n"
            f"  expected, in this order: {wanted}\n  got: {entries}",
            hint="rebuild it with --clean; if that does not help, report a bug",
        )
