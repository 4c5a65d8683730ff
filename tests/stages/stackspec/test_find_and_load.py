"""find_spec_file, load and load_pyproject_data: which file is read, and how paths resolve."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import find_spec_file, load, load_pyproject_data
from envstacks.stages.stackspec.keys import venvstacks_defaults

RUNTIME_VS = """
[[runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
"""
RUNTIME_PY = RUNTIME_VS.replace("[[runtimes]]", "[[tool.venvstacks.runtimes]]")

WriteFile = Callable[[str, str], Path]


def test_folder_prefers_pyproject_with_table(tmp_path: Path, write_file: WriteFile) -> None:
    write_file("pyproject.toml", '[project]\nname = "p"\n' + RUNTIME_PY)
    write_file("venvstacks.toml", RUNTIME_VS)
    assert find_spec_file(tmp_path) == tmp_path / "pyproject.toml"
    assert load(tmp_path).source_format == "pyproject"


def test_folder_falls_back_to_venvstacks_toml(tmp_path: Path, write_file: WriteFile) -> None:
    write_file("pyproject.toml", '[project]\nname = "p"\n[tool.ruff]\nline-length = 100\n')
    write_file("venvstacks.toml", RUNTIME_VS)
    assert find_spec_file(tmp_path) == tmp_path / "venvstacks.toml"
    spec = load(tmp_path)
    assert spec.source_format == "venvstacks"
    assert spec.project_name is None


def test_folder_without_spec_explains_what_was_looked_for(
    tmp_path: Path, write_file: WriteFile
) -> None:
    with pytest.raises(SpecError, match=r"no pyproject\.toml, no venvstacks\.toml"):
        find_spec_file(tmp_path)
    write_file("pyproject.toml", '[project]\nname = "p"\n')
    with pytest.raises(SpecError) as info:
        find_spec_file(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}: no stack specification found in {tmp_path} (")
    assert "pyproject.toml has no [tool.venvstacks] table" in message
    assert info.value.hint is not None
    assert "add a [tool.venvstacks] table" in info.value.hint


def test_search_goes_up_from_a_subfolder(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_file = write_file("project/pyproject.toml", '[project]\nname = "p"\n' + RUNTIME_PY)
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_spec_file() == spec_file
    spec = load()
    # Paths in the spec stay relative to the spec file, not to where the command ran.
    assert spec.root == tmp_path / "project"
    assert spec.settings.build_dir == tmp_path / "project" / "_build"


def test_search_takes_the_nearest_spec_and_passes_over_other_pyprojects(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = write_file("venvstacks.toml", RUNTIME_VS)
    write_file("a/pyproject.toml", '[project]\nname = "p"\n[tool.ruff]\nline-length = 100\n')
    inner = write_file("a/b/venvstacks.toml", RUNTIME_VS)
    (tmp_path / "a" / "b" / "c").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "b" / "c")
    assert find_spec_file() == inner
    monkeypatch.chdir(tmp_path / "a")
    # A pyproject.toml without [tool.venvstacks] does not stop the search (as in uv).
    assert find_spec_file() == outer


def test_search_that_finds_nothing_names_where_it_looked(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = write_file("a/pyproject.toml", '[project]\nname = "p"\n')
    start = tmp_path / "a" / "b"
    start.mkdir()
    monkeypatch.chdir(start)
    with pytest.raises(SpecError) as info:
        find_spec_file()
    message = str(info.value)
    assert message.startswith(f"{start}: no stack specification found in {start} or any folder")
    assert f"{other} has no [tool.venvstacks] table" in message
    assert info.value.hint is not None and "[tool.venvstacks]" in info.value.hint


def test_a_folder_given_explicitly_is_searched_alone(tmp_path: Path, write_file: WriteFile) -> None:
    write_file("venvstacks.toml", RUNTIME_VS)
    (tmp_path / "sub").mkdir()
    with pytest.raises(SpecError, match=r"found in \S+sub \(looked"):
        find_spec_file(tmp_path / "sub")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file or folder"):
        find_spec_file(tmp_path / "nope.toml")


def test_default_is_the_current_folder(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("venvstacks.toml", RUNTIME_VS)
    monkeypatch.chdir(tmp_path)
    assert find_spec_file() == tmp_path / "venvstacks.toml"
    assert find_spec_file(Path("venvstacks.toml")).is_absolute()
    assert load().spec_path == tmp_path / "venvstacks.toml"


def test_any_other_file_is_read_as_venvstacks_format(tmp_path: Path, write_file: WriteFile) -> None:
    path = write_file("stacks/my-stack.toml", RUNTIME_VS)
    assert find_spec_file(path) == path
    spec = load(path)
    assert spec.source_format == "venvstacks"
    assert spec.root == tmp_path / "stacks"
    assert spec.settings.build_dir == tmp_path / "stacks" / "_build"


def test_explicit_pyproject_without_table(tmp_path: Path, write_file: WriteFile) -> None:
    path = write_file("pyproject.toml", '[project]\nname = "p"\n')
    with pytest.raises(SpecError) as info:
        load(path)
    message = str(info.value)
    assert message == f"{path}: no [tool.venvstacks] table"
    assert info.value.hint is not None and info.value.hint.startswith("add one with the stack's")


def test_broken_pyproject_is_reported_even_with_venvstacks_toml(
    tmp_path: Path, write_file: WriteFile
) -> None:
    write_file("pyproject.toml", "[project\n")
    write_file("venvstacks.toml", RUNTIME_VS)
    with pytest.raises(SpecError, match=r"pyproject\.toml:1:9: invalid TOML: "):
        find_spec_file(tmp_path)


def test_settings_paths_relative_home_and_absolute(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    elsewhere = tmp_path / "elsewhere"
    write_file(
        "proj/pyproject.toml",
        f"""
[tool.venvstacks]
build-dir = "./b/../build"
output-dir = "~/out"
export-dir = "{elsewhere}"
python-search-path = ["py", "~/pythons", "{elsewhere}"]
{RUNTIME_PY}
[[tool.venvstacks.applications]]
name = "app"
launch_module = "{tmp_path / "main.py"}"
support_modules = ["~/helpers.py"]
runtime = "cpython-3.12"
requirements = []
""",
    )
    write_file("main.py", "")
    write_file("home/helpers.py", "")
    spec = load(tmp_path / "proj")
    root = tmp_path / "proj"
    assert spec.settings.build_dir == root / "build"
    assert spec.settings.output_dir == home / "out"
    assert spec.settings.export_dir == elsewhere
    assert spec.settings.requirements_dir == root / "requirements"
    assert spec.settings.python_search_path == (root / "py", home / "pythons", elsewhere)
    app = spec.applications[0]
    assert app.launch_module == tmp_path / "main.py"
    assert app.support_modules == (home / "helpers.py",)


def test_load_pyproject_data_plain_and_tomlkit(tmp_path: Path, write_file: WriteFile) -> None:
    text = (
        '[project]\nname = "demo"\n[tool.venvstacks]\nbuild-dir = "b"\n'
        + RUNTIME_PY
        + ('versioned = true\n\n[tool.venvstacks.uv]\nprerelease = "allow"\n')
    )
    path = write_file("pyproject.toml", text)
    from_file = load(path)
    from_dict = load_pyproject_data(tomllib.loads(text), path)
    from_tomlkit = load_pyproject_data(tomlkit.parse(text), path)
    for spec in (from_dict, from_tomlkit):
        assert spec == from_file
        assert spec.project_name == "demo"
        assert spec.runtimes[0].versioned is True
        assert type(spec.runtimes[0].versioned) is bool
        assert spec.settings.build_dir == tmp_path / "b"
        assert dict(spec.uv.settings) == {"prerelease": "allow"}


def test_load_pyproject_data_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    data = {"tool": {"venvstacks": {"runtimes": [{"name": "x"}]}}}
    with pytest.raises(SpecError) as info:
        load_pyproject_data(data, path)
    message = str(info.value)
    # The data is not in a file on disk, so there is no line to name.
    assert message.startswith(f"{path}: tool.venvstacks.runtimes[0]: runtime 'x' is missing")
    assert message.count(str(path)) == 1, "the file is named once"


def test_macosx_target_default_comes_from_environment(
    tmp_path: Path, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file("venvstacks.toml", RUNTIME_VS)
    monkeypatch.delenv("MACOSX_DEPLOYMENT_TARGET", raising=False)
    assert load(path).runtimes[0].macosx_target == "13.0"
    monkeypatch.setenv("MACOSX_DEPLOYMENT_TARGET", "12.3")
    assert load(path).runtimes[0].macosx_target == "12.3"
    monkeypatch.setenv("MACOSX_DEPLOYMENT_TARGET", "twelve")
    with pytest.raises(SpecError, match=r"MACOSX_DEPLOYMENT_TARGET is not a macOS version"):
        load(path)


def test_tool_venvstacks_in_venvstacks_toml_is_ignored_with_warning(
    tmp_path: Path, write_file: WriteFile
) -> None:
    path = write_file("venvstacks.toml", RUNTIME_VS + '\n[tool.venvstacks]\nbuild-dir = "x"\n')
    spec = load(path)
    assert spec.settings.build_dir == tmp_path / "_build"
    (warning,) = spec.warnings
    assert warning.startswith("tool.venvstacks: a venvstacks.toml does not read this table")
    assert warning.endswith("put envstacks' settings in [tool.envstacks] instead")


def test_venvstacks_toml_publishes_what_venvstacks_consumers_read(
    tmp_path: Path, write_file: WriteFile
) -> None:
    settings = load(write_file("venvstacks.toml", RUNTIME_VS)).settings
    assert (settings.archive_format, settings.output_dir) == ("tar.xz", tmp_path / "_artifacts")
    assert venvstacks_defaults("nt")["archive-format"] == "zip"
    assert venvstacks_defaults("posix")["archive-format"] == "tar.xz"


def test_tool_envstacks_opts_a_venvstacks_toml_into_envstacks_settings(
    tmp_path: Path, write_file: WriteFile
) -> None:
    path = write_file(
        "venvstacks.toml",
        RUNTIME_VS + '\n[tool.envstacks]\narchive-format = "tar.zst"\nbuild-dir = "b"\n',
    )
    spec = load(path)
    assert (spec.settings.archive_format, spec.settings.build_dir) == ("tar.zst", tmp_path / "b")
    assert spec.warnings == ()
    write_file("venvstacks.toml", RUNTIME_VS + '\n[tool.envstacks]\narchive-formats = "zip"\n')
    with pytest.raises(SpecError) as caught:
        load(path)
    message = caught.value.message
    assert message.startswith(f"{path}:8: tool.envstacks.archive-formats: unknown [tool.envstacks]")
    assert "did you mean 'archive-format'" in message
    write_file("venvstacks.toml", RUNTIME_VS + '\n[tool.envstacks]\nrequirements = ["x"]\n')
    with pytest.raises(SpecError) as caught:
        load(path)
    assert caught.value.hint is not None and "layers stay at the top level" in caught.value.hint


def test_tool_envstacks_in_a_pyproject_is_ignored_with_warning(
    tmp_path: Path, write_file: WriteFile
) -> None:
    text = '[tool.venvstacks]\n\n[tool.envstacks]\nbuild-dir = "x"\n\n' + RUNTIME_PY
    spec = load(write_file("pyproject.toml", text))
    assert spec.settings.build_dir == tmp_path / "_build"
    (warning,) = spec.warnings
    assert warning.startswith("tool.envstacks: a pyproject.toml does not read this table")
    assert warning.endswith("put them in [tool.venvstacks] instead")


def test_other_tool_tables_are_allowed(tmp_path: Path, write_file: WriteFile) -> None:
    path = write_file("venvstacks.toml", RUNTIME_VS + "\n[tool.ruff]\nline-length = 100\n")
    assert load(path).warnings == ()


def test_unknown_uv_index_key_warns(tmp_path: Path, write_file: WriteFile) -> None:
    path = write_file(
        "venvstacks.toml",
        RUNTIME_VS
        + '\n[[tool.uv.index]]\nname = "a"\nurl = "https://a.invalid"\nexplicti = true\n',
    )
    (warning,) = load(path).warnings
    assert warning.startswith("tool.uv.index[0].explicti: unknown uv index key")
    assert "(did you mean 'explicit'?)" in warning


def test_pyproject_syntax_error_names_file_and_line(tmp_path: Path, write_file: WriteFile) -> None:
    # Kept out of tests/stages/stackspec/specs: a broken file named pyproject.toml there would break
    # ruff's
    # configuration discovery for the whole repository.
    path = write_file("pyproject.toml", '[tool.venvstacks]\nbuild-dir = "_build\n')
    with pytest.raises(SpecError) as info:
        load(tmp_path)
    assert str(info.value).startswith(f"{path}:2:20: invalid TOML: ")
    assert info.value.hint == "fix the TOML syntax at that line and column"


def test_project_name_must_be_a_string(tmp_path: Path) -> None:
    # Kept out of tests/stages/stackspec/specs for the same reason (ruff validates [project] in
    # pyproject files).
    data = {"project": {"name": 3}, "tool": {"venvstacks": {}}}
    with pytest.raises(SpecError, match=r"pyproject\.toml: project\.name: expected a string, got"):
        load_pyproject_data(data, tmp_path / "pyproject.toml")


def test_warnings_from_venvstacks_uv_toml_name_the_file(
    tmp_path: Path, write_file: WriteFile
) -> None:
    write_file("venvstacks.toml", RUNTIME_VS)
    uv_file = write_file("venvstacks.uv.toml", 'exclude-newr = "2025-01-01T00:00:00Z"\n')
    (warning,) = load(tmp_path).warnings
    assert warning.startswith(f"{uv_file}: exclude-newr: unknown uv setting 'exclude-newr'")


def test_load_pyproject_data_nested_too_deeply_names_the_file(tmp_path: Path) -> None:
    """A front-end's already parsed data, nested beyond the recursion limit."""
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    data = tomllib.loads(RUNTIME_PY.replace("requirements = []", 'requirements = ["x"]'))
    data["tool"]["venvstacks"]["runtimes"][0]["requirements"] = deep
    pyproject = tmp_path / "pyproject.toml"
    with pytest.raises(SpecError, match=rf"{pyproject}: arrays or tables are nested too deeply"):
        load_pyproject_data(data, pyproject)


@pytest.mark.parametrize(
    ("table", "shown"),
    [
        ("tool.venvstack.uv", "tool.venvstack"),
        ("tool.venvstacks-foo", "tool.venvstacks-foo"),
        ("tool.envstack", "tool.envstack"),
        ('tool."VenvStacks"', "tool.VenvStacks"),
    ],
)
def test_misspelt_table_in_a_pyproject_is_warned_about(
    tmp_path: Path, write_file: WriteFile, table: str, shown: str
) -> None:
    text = '[project]\nname = "p"\n' + RUNTIME_PY + f'\n[{table}]\nexclude-newer = "2024-01-01"\n'
    spec = load(write_file("pyproject.toml", text))
    (warning,) = spec.warnings
    assert warning == (
        f"{shown}: envstacks does not read this table (did you mean [tool.venvstacks]?); "
        "rename it, or ignore this if the table belongs to another tool"
    )


def test_misspelt_table_in_a_venvstacks_toml_is_warned_about(
    tmp_path: Path, write_file: WriteFile
) -> None:
    spec = load(write_file("venvstacks.toml", RUNTIME_VS + '\n[tool.envstack]\nbuild-dir = "b"\n'))
    (warning,) = spec.warnings
    assert warning.startswith("tool.envstack: envstacks does not read this table (did you mean")
    assert "[tool.envstacks]?" in warning


def test_other_tools_tables_are_not_taken_for_misspellings(
    tmp_path: Path, write_file: WriteFile
) -> None:
    tables = "".join(
        f"\n[tool.{name}]\nx = 1\n"
        for name in ("hatch", "pdm", "ruff", "mypy", "setuptools", "pytest", "coverage", "black")
    )
    assert load(write_file("pyproject.toml", RUNTIME_PY + tables)).warnings == ()
    assert load(write_file("venvstacks.toml", RUNTIME_VS + tables)).warnings == ()


def test_not_found_points_at_a_misspelt_table(tmp_path: Path, write_file: WriteFile) -> None:
    write_file(
        "pyproject.toml", '[project]\nname = "p"\n' + RUNTIME_PY.replace("venvstacks", "venvstack")
    )
    with pytest.raises(
        SpecError,
        match=r"has no \[tool\.venvstacks\] table \(it has \[tool\.venvstack\]: misspelt\?\)",
    ):
        find_spec_file(tmp_path)
