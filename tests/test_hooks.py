"""The pluggy core: built-ins registered as plugins, entry points, blocking, typo detection."""

from __future__ import annotations

import pluggy
import pytest

from envstacks.hooks import BUILTIN_PLUGINS, DISABLE_ENV_VAR, get_plugin_manager, hookimpl


def test_builtins_are_ordinary_plugins() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    names = [name for name, _ in pm.list_name_plugin()]
    for builtin in BUILTIN_PLUGINS:
        assert builtin in names


def test_misspelled_hook_is_rejected() -> None:
    class Typo:
        @hookimpl
        def envstacks_provide_runtim(self) -> None:  # one letter short
            return None

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError, match="envstacks_provide_runtim"):
        pm.check_pending()


def test_third_party_plugin_can_answer_firstresult_hooks() -> None:
    class Custom:
        @hookimpl(tryfirst=True)
        def envstacks_archive_format(self, name: str) -> object | None:
            return "mine" if name == "custom" else None

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Custom(), name="custom")
    assert pm.hook.envstacks_archive_format(name="custom") == "mine"


def test_disable_env_var_blocks_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
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
