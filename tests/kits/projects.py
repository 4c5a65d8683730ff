"""The fixture projects of tests/projects, copied into a test's folder, pointed at this source."""

from __future__ import annotations

import shutil
from pathlib import Path

TESTS_DIR = Path(__file__).parents[1]
REPO_ROOT = TESTS_DIR.parent
PROJECTS = TESTS_DIR / "projects"

#: The placeholder requirement in fixture projects that the tests point at the plugin copy.
PLUGIN_REQUIREMENT = 'dependencies = ["envstacks"]'


def copy_project(name: str, dest: Path, plugin_source: Path | None = None) -> Path:
    """Copy ``tests/projects/<name>`` to ``dest``, pointing its plugin requirement at the copy."""
    root = dest / name
    shutil.copytree(PROJECTS / name, root, ignore=shutil.ignore_patterns("_build", "dist"))
    if plugin_source is not None:
        pyproject = root / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        assert PLUGIN_REQUIREMENT in text
        pyproject.write_text(
            text.replace(
                PLUGIN_REQUIREMENT,
                f'dependencies = ["envstacks @ {plugin_source.as_uri()}"]',
            ),
            encoding="utf-8",
        )
    return root
