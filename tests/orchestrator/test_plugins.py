"""The pluggy core: built-in plugins, entry points, typo detection, registries of named plugins.

Runtime providers and archive formats come from plugins as objects with a ``name``; a
third-party one coexists with the built-ins or replaces the built-in of its name.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pluggy
import pytest

from envstacks.floor.errors import RuntimeProvisionError, SpecError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.named_plugins import OTHERS, Registry
from envstacks.floor.report import Reporter
from envstacks.orchestrator.plugins import (
    BUILTIN_PLUGINS,
    DISABLE_ENV_VAR,
    get_plugin_manager,
    group_may_be_declared,
)
from envstacks.published.archive_formats import (
    BUILTIN_FORMATS,
    format_for_archive,
    format_names,
    get_format,
)
from envstacks.published.archive_tar import TarXzFormat
from envstacks.stages.runtime import ProvidedRuntime, RuntimeRequest
from envstacks.stages.runtime.contract import AUTO
from envstacks.stages.runtime.local import LocalProvider
from envstacks.stages.runtime.provision import choose_providers, known_providers, provider_registry
from envstacks.stages.runtime.uv_managed import UvManagedProvider
from envstacks.stages.stackspec import StackSpec, load


def test_builtins_are_ordinary_plugins() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    names = [name for name, _ in pm.list_name_plugin()]
    for builtin in BUILTIN_PLUGINS:
        assert builtin in names


def test_misspelled_hook_is_rejected() -> None:
    class Typo:
        @hookimpl
        def envstacks_runtime_provider(self) -> None:  # one letter short
            return None

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError, match="envstacks_runtime_provider"):
        pm.check_pending()


def _installed_plugin(folder: Path, group: str = "envstacks") -> Path:
    """A distribution in ``folder`` whose ``group`` entry point ``shout`` is a plugin module."""
    folder.mkdir(exist_ok=True)
    (folder / "shout_plugin.py").write_text(
        "from envstacks import hookimpl\n"
        "@hookimpl\n"
        "def envstacks_layer_deployed(install_target, path, reused):\n"
        "    pass\n"
    )
    info = folder / "shout_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[console_scripts]\nshout = x:y\n\n[{group}]\nshout = shout_plugin\n"
    )
    return folder


def test_an_installed_plugin_is_loaded_from_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_plugin_manager().get_plugin("shout") is None
    monkeypatch.syspath_prepend(str(_installed_plugin(tmp_path)))
    assert group_may_be_declared("envstacks")
    plugin = get_plugin_manager().get_plugin("shout")
    assert plugin is not None and plugin.__name__ == "shout_plugin"
    assert get_plugin_manager(blocked=["shout"]).get_plugin("shout") is None


def test_entry_points_are_read_only_when_a_distribution_may_declare_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(_installed_plugin(tmp_path / "other", group="other")))
    assert not group_may_be_declared("envstacks")
    # What the quick look cannot read into makes it say yes: importlib.metadata decides.
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("shout_plugin.py", "")
    monkeypatch.syspath_prepend(str(archive))
    assert group_may_be_declared("envstacks")


def test_the_importlib_metadata_backport_counts_as_reading_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PDM and Hatch import the backport, which puts its finder on ``sys.meta_path``."""
    backport = pytest.importorskip("importlib_metadata")
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, backport.MetadataPathFinder()])
    monkeypatch.syspath_prepend(str(_installed_plugin(tmp_path / "other", group="other")))
    assert not group_may_be_declared("envstacks")

    class OwnFinder:  # a finder with distributions of its own: only the full look knows
        def find_distributions(self, *args: object, **kwargs: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, OwnFinder()])
    assert group_may_be_declared("envstacks")


def test_disable_env_var_blocks_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(_installed_plugin(tmp_path)))
    calls: list[str] = []
    real = pluggy.PluginManager.load_setuptools_entrypoints

    def spy(self: pluggy.PluginManager, group: str, name: str | None = None) -> int:
        calls.append(group)
        return real(self, group, name)

    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints", spy)
    get_plugin_manager()
    assert calls == ["envstacks"]
    calls.clear()
    monkeypatch.setenv(DISABLE_ENV_VAR, "all")
    get_plugin_manager()
    assert calls == []


def test_the_builtins_table_names_each_modules_hooks() -> None:
    for module_name, hooks in BUILTIN_PLUGINS.items():
        module = importlib.import_module(module_name)
        implemented = {
            name: getattr(module, name).envstacks_impl
            for name in dir(module)
            if hasattr(getattr(module, name), "envstacks_impl")
        }
        assert set(implemented) == set(hooks), module_name
        for name, options in implemented.items():
            assert options["trylast"], f"{module_name}.{name}"
            assert not inspect.signature(getattr(module, name)).parameters, f"{module_name}.{name}"


def test_a_plugin_manager_loads_no_builtin_module_and_no_entry_point_reader() -> None:
    # A no-op build asks no built-in hook but the archive formats (which publish loads anyway):
    # the runtime providers and variant selectors load only when asked, and importlib.metadata
    # only when a distribution declares envstacks entry points (none in the test environment).
    code = (
        "import sys\n"
        "from envstacks.orchestrator.plugins import BUILTIN_PLUGINS, get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "print([m for m in [*BUILTIN_PLUGINS, 'importlib.metadata'] if m in sys.modules])\n"
        "pm.hook.envstacks_runtime_providers()\n"
        "print('envstacks.stages.runtime.local' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["[]", "True"]


# -- runtime providers ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NamedProvider:
    """A third-party runtime provider that never finds anything (only its name matters here)."""

    name: str

    def provide(
        self, request: RuntimeRequest, destination: Path, reporter: Reporter
    ) -> ProvidedRuntime | None:
        request.log(self.name, "nothing here")
        return None


class ProviderPlugin:
    def __init__(self, *providers: NamedProvider) -> None:
        self.providers = providers

    @hookimpl
    def envstacks_runtime_providers(self) -> tuple[NamedProvider, ...]:
        return self.providers


def _stack(tmp_path: Path, provider: str) -> StackSpec:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(
        f"""
[project]
name = "hooks-test"
version = "0"

[tool.venvstacks]
runtime-provider = "{provider}"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
""",
        encoding="utf-8",
    )
    return load(tmp_path / "pyproject.toml")


def test_builtin_providers_and_the_explicit_auto_order(tmp_path: Path) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    assert known_providers(pm) == (AUTO, "local", "uv-managed")
    auto = choose_providers(_stack(tmp_path, "auto"), pm)
    assert [type(provider) for provider in auto] == [UvManagedProvider, LocalProvider]


def test_third_party_provider_is_asked_first_under_auto_and_can_be_named(tmp_path: Path) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(ProviderPlugin(NamedProvider("company-cache")), name="company")
    assert known_providers(pm) == (AUTO, "company-cache", "local", "uv-managed")
    auto = choose_providers(_stack(tmp_path / "auto", "auto"), pm)
    assert [provider.name for provider in auto] == ["company-cache", "uv-managed", "local"]
    [named] = choose_providers(_stack(tmp_path / "named", "company-cache"), pm)
    assert named == NamedProvider("company-cache")


def test_third_party_provider_replaces_the_builtin_of_the_same_name(tmp_path: Path) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(ProviderPlugin(NamedProvider("local")), name="my-local")
    auto = choose_providers(_stack(tmp_path, "auto"), pm)
    # It takes the built-in's place in the auto order, and the built-in is gone.
    assert [type(provider) for provider in auto] == [UvManagedProvider, NamedProvider]
    assert provider_registry(pm).find("local") == NamedProvider("local")


def test_unknown_provider_names_the_setting_the_known_names_and_the_closest(
    tmp_path: Path,
) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(ProviderPlugin(NamedProvider("company-cache")), name="company")
    with pytest.raises(RuntimeProvisionError) as caught:
        choose_providers(_stack(tmp_path, "company_cache"), pm)
    assert str(caught.value) == (
        "tool.venvstacks.runtime-provider: unknown runtime provider 'company_cache'; did you "
        "mean 'company-cache'? (known: 'auto', 'company-cache', 'local', 'uv-managed')"
    )
    assert caught.value.hint is not None and "install the plugin" in caught.value.hint


@pytest.mark.parametrize("bad", [object(), NamedProvider(""), NamedProvider(AUTO)])
def test_a_provider_without_a_usable_name_is_refused(bad: object) -> None:
    class Broken:
        @hookimpl
        def envstacks_runtime_providers(self) -> tuple[object, ...]:
            return (bad,)

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Broken(), name="broken")
    with pytest.raises(RuntimeProvisionError, match=r"envstacks_runtime_providers.*no usable name"):
        provider_registry(pm)


# -- archive formats --------------------------------------------------------------------------


class ReleaseXz(TarXzFormat):
    """A plugin's format: tar.xz under another name and suffix."""

    name = "tar.xz-release"
    suffix = ".release.tar.xz"


class FormatPlugin:
    def __init__(self, *formats: object) -> None:
        self.formats = formats

    @hookimpl
    def envstacks_archive_formats(self) -> tuple[object, ...]:
        return self.formats


def test_third_party_format_coexists_with_the_builtins() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(FormatPlugin(ReleaseXz()), name="release")
    assert format_names(pm) == ("tar.xz", "tar.xz-release", "tar.zst", "zip")
    assert isinstance(get_format(pm, "tar.xz-release"), ReleaseXz)
    assert get_format(pm, "tar.xz") is BUILTIN_FORMATS["tar.xz"]
    # Reading: the declared name first, else the longest suffix.
    assert isinstance(format_for_archive(pm, "app@1.release.tar.xz"), ReleaseXz)
    assert format_for_archive(pm, "app@1.tar.xz").name == "tar.xz"


def test_third_party_format_replaces_the_builtin_of_the_same_name() -> None:
    class MyZip(ReleaseXz):
        name = "zip"

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(FormatPlugin(MyZip()), name="my-zip")
    assert isinstance(get_format(pm, "zip"), MyZip)
    assert format_names(pm) == ("tar.xz", "tar.zst", "zip")


def test_unknown_format_names_the_setting_the_known_names_and_the_closest() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    with pytest.raises(SpecError) as caught:
        get_format(pm, "tar.gz", where="--format")
    assert str(caught.value) == (
        "--format: unknown archive format 'tar.gz'; did you mean 'tar.xz'? "
        "(known: 'tar.xz', 'tar.zst', 'zip')"
    )


# -- the registry itself ----------------------------------------------------------------------


def test_registry_keeps_the_first_answer_per_name_and_orders_explicitly() -> None:
    first, second, third = NamedProvider("a"), NamedProvider("a"), NamedProvider("b")
    registry: Registry[NamedProvider] = Registry.collect(
        [(first,), (second, third), (NamedProvider("c"),)],
        kind="thing",
        hook="envstacks_things",
        error=SpecError,
    )
    assert registry.find("a") is first
    assert registry.names() == ("a", "b", "c")
    assert [entry.name for entry in registry.ordered(("c", OTHERS, "missing"))] == ["c", "a", "b"]
    assert [entry.name for entry in registry.ordered(("b",))] == ["b"]
