"""Validate the stack-wide settings (``[tool.venvstacks]`` keys) into Settings, paths absolute."""

from __future__ import annotations

from pathlib import Path

from envstacks.spec.model import Settings, SourceFormat
from envstacks.spec.validate_fields import (
    TomlPath,
    TomlTable,
    expect_str,
    expect_str_list,
    resolve_path,
)
from envstacks.spec.validate_keys import PATH_SETTINGS, SETTINGS_DEFAULTS, SETTINGS_KEYS


def parse_settings(
    table: TomlTable, where: TomlPath, root: Path, source_format: SourceFormat
) -> Settings:
    """Read the settings keys of ``table`` (other keys are ignored), applying the defaults.

    Paths are relative to ``root`` (the spec's folder); ``~`` is expanded.
    """
    defaults = SETTINGS_DEFAULTS[source_format]
    values: dict[str, str] = {}
    for key, default in defaults.items():
        raw = table.get(key, default)
        values[key] = expect_str(raw, where.key(key), fix=SETTINGS_KEYS[key].fix())
    search_key = "python-search-path"
    search = expect_str_list(
        table.get(search_key, []), where.key(search_key), fix=SETTINGS_KEYS[search_key].fix()
    )
    paths = {key: resolve_path(root, values[key]) for key in PATH_SETTINGS}
    return Settings(
        build_dir=paths["build-dir"],
        output_dir=paths["output-dir"],
        export_dir=paths["export-dir"],
        requirements_dir=paths["requirements-dir"],
        archive_format=values["archive-format"],
        runtime_provider=values["runtime-provider"],
        python_search_path=tuple(resolve_path(root, item) for item in search),
    )
