"""provision_runtime: the auto choice, errors that say what was searched, third-party providers."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import RuntimeProvisionError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.report import RecordingReporter, Reporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.runtime import ProvidedRuntime, RuntimeRequest, provision_runtime

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the fallback tested here is the Linux local provider",
)

#: A proxy on a port nothing listens on: every download attempt fails at once, with or
#: without a network (so the test never depends on one and never downloads).
DEAD_PROXY = "http://127.0.0.1:9"


def _provision(
    spec: Any, destination: Path, pm: Any = None
) -> tuple[ProvidedRuntime, RecordingReporter]:
    reporter = RecordingReporter()
    result = provision_runtime(
        spec,
        spec.runtimes[0],
        destination,
        pm=pm or get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
    )
    return result, reporter


@pytest.fixture(scope="module")
def source_prefix(python_for: Callable[[str], Path], python_runner: Callable[..., Any]) -> Path:
    """The prefix of a local CPython 3.12."""
    out = python_runner(python_for("3.12"), "import sys; print(sys.prefix)")
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def offline_auto(
    tmp_path_factory: pytest.TempPathFactory, source_prefix: Path, isolated, stack_writer
) -> tuple[ProvidedRuntime, RecordingReporter, Path]:
    """``auto`` under ``UV_OFFLINE``: provisioned once; later tests reuse it as a template."""
    tmp = tmp_path_factory.mktemp("offline")
    with isolated(
        tmp / "cache", UV_OFFLINE="1", ENVSTACKS_PYTHON_SEARCH_PATH=os.fspath(source_prefix)
    ):
        spec = stack_writer(tmp / "project", python="cpython@3.12", provider="auto")
        result, reporter = _provision(spec, tmp / "runtime")
    return result, reporter, tmp / "runtime"


def test_auto_offline_falls_back_to_local_and_says_why(offline_auto, source_prefix: Path) -> None:
    result, reporter, runtime = offline_auto
    assert result.provider == "local"
    assert result.source == os.fspath(source_prefix)
    [info] = [text for text in reporter.texts("info") if "runtime provider" in text]
    assert "'local'" in info
    assert "uv-managed: skipped: offline mode" in info
    assert (runtime / "bin" / "python").exists()


def test_auto_without_reachable_downloads_falls_back_to_local(
    tmp_path: Path, source_prefix: Path, isolated, stack_writer
) -> None:
    with isolated(
        tmp_path / "cache",
        HTTPS_PROXY=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        ENVSTACKS_PYTHON_SEARCH_PATH=os.fspath(source_prefix),
    ) as patch:
        patch.delenv("NO_PROXY", raising=False)
        patch.delenv("no_proxy", raising=False)
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="auto")
        result, reporter = _provision(spec, tmp_path / "runtime")
    assert result.provider == "local"
    [info] = [text for text in reporter.texts("info") if "runtime provider" in text]
    assert "uv-managed: skipped: cannot reach 127.0.0.1:9" in info
    # Nothing was downloaded into the cache.
    assert not list((tmp_path / "cache").glob("uv-python/cpython-*"))


def test_missing_runtime_lists_every_place_searched_and_the_fix(
    tmp_path: Path, isolated, stack_writer
) -> None:
    # A pyenv shim look-alike: a script, which must never be taken for an interpreter.
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.5"
    shim.write_text("#!/bin/sh\nexec false\n", encoding="utf-8")
    shim.chmod(0o755)
    # And a file that claims to be ELF but is not a program for this machine.
    broken = tmp_path / "broken" / "bin" / "python3.5"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x7fELF" + bytes(60))
    broken.chmod(0o755)
    with isolated(tmp_path / "cache", HTTPS_PROXY=DEAD_PROXY, https_proxy=DEAD_PROXY):
        spec = stack_writer(
            tmp_path / "project",
            python="cpython@3.5",
            provider="auto",
            search_path=(shims, tmp_path / "broken"),
        )
        with pytest.raises(RuntimeProvisionError) as caught:
            _provision(spec, tmp_path / "runtime")
    message = str(caught.value)
    assert "'cpython-3.5'" in message
    assert 'tool.venvstacks.runtimes[0].python_implementation = "cpython@3.5"' in message
    assert "uv-managed: skipped: no download of cpython-3.5" in message
    assert f"local: {shim}: skipped: a script" in message
    assert f"local: {broken}: does not run: cannot run {broken}: Exec format error" in message
    for place in ("(pyenv)", "(uv-managed installs)", "/usr/local (common prefix)", "/opt/python"):
        assert place in message, place
    for fix in ("python-search-path", "ENVSTACKS_PYTHON_SEARCH_PATH", "python-install-mirror"):
        assert fix in message, fix
    assert caught.value.hint and "3.5" in caught.value.hint
    assert not (tmp_path / "runtime").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".runtime")]


def test_distribution_patched_python_is_rejected_with_a_reason(
    tmp_path: Path, isolated, stack_writer
) -> None:
    system = Path("/usr/bin/python3.11")
    if not system.is_file():
        pytest.skip("no /usr/bin/python3.11")
    probe = subprocess.run(
        [
            system,
            "-I",
            "-c",
            "import sysconfig, platform; "
            "print(sysconfig.get_default_scheme(), platform.python_version())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    scheme, version = probe.stdout.split()
    if scheme == "posix_prefix":
        pytest.skip("the system Python here is not distribution-patched")
    with isolated(tmp_path / "cache"):
        spec = stack_writer(
            tmp_path / "project",
            python=f"cpython@{version}",
            provider="local",
            search_path=(system.parent,),
        )
        with pytest.raises(RuntimeProvisionError) as caught:
            _provision(spec, tmp_path / "runtime")
    assert f"local: {system}: Python {version} rejected: a distribution-patched layout" in str(
        caught.value
    )


def test_unknown_provider_lists_the_known_ones(tmp_path: Path, isolated, stack_writer) -> None:
    with isolated(tmp_path / "cache"):
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="uv-manged")
        with pytest.raises(RuntimeProvisionError) as caught:
            _provision(spec, tmp_path / "runtime")
    message = str(caught.value)
    assert "tool.venvstacks.runtime-provider: unknown runtime provider 'uv-manged'" in message
    assert "'auto', 'local', 'uv-managed'" in message
    assert "did you mean 'uv-managed'?" in message


def test_existing_destination_is_refused(tmp_path: Path, isolated, stack_writer) -> None:
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "keep.txt").write_text("mine", encoding="utf-8")
    with isolated(tmp_path / "cache"):
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="local")
        with pytest.raises(RuntimeProvisionError, match="already exists"):
            _provision(spec, tmp_path / "runtime")
    assert (tmp_path / "runtime" / "keep.txt").read_text(encoding="utf-8") == "mine"


class CopyProvider:
    """A third-party provider: copies a ready-made runtime (as a company cache might)."""

    name = "copy"

    def __init__(self, template: Path, *, version: str) -> None:
        self.template = template
        self.version = version
        self.requests: list[RuntimeRequest] = []

    def provide(
        self, request: RuntimeRequest, destination: Path, reporter: Reporter
    ) -> ProvidedRuntime | None:
        self.requests.append(request)
        shutil.copytree(self.template, destination, symlinks=True)
        return ProvidedRuntime(
            provider=self.name,
            version=self.version,
            python=Path("bin/python3.12"),
            source=os.fspath(self.template),
        )


class Declining:
    """A third-party provider that finds nothing: auto goes on to the built-ins."""

    name = "declining"

    def provide(
        self, request: RuntimeRequest, destination: Path, reporter: Reporter
    ) -> ProvidedRuntime | None:
        request.log(self.name, "no runtime in the company cache")
        return None


class Plugin:
    """Offers runtime providers through the hook, as an entry-point plugin would."""

    def __init__(self, *providers: object) -> None:
        self.providers = providers

    @hookimpl
    def envstacks_runtime_providers(self) -> tuple[object, ...]:
        return self.providers


def test_third_party_provider_wins_over_the_builtins(
    offline_auto, tmp_path: Path, isolated, stack_writer
) -> None:
    provided, _reporter, template = offline_auto
    plugin = CopyProvider(template, version=provided.version)
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(plugin), name="copy-provider")
    with isolated(tmp_path / "cache"):
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="auto")
        result, reporter = _provision(spec, tmp_path / "runtime", pm)
        # Its name becomes a valid runtime-provider value.
        named = dataclasses.replace(
            spec, settings=dataclasses.replace(spec.settings, runtime_provider="copy")
        )
        named_result, _ = _provision(named, tmp_path / "named", pm)
    assert result.provider == named_result.provider == "copy"
    assert [request.provider for request in plugin.requests] == ["auto", "copy"]
    # No built-in provider ran: nothing was searched, nothing logged.
    assert [request.search_log for request in plugin.requests] == [[], []]
    assert not [text for text in reporter.texts() if "local:" in text or "uv-managed:" in text]
    out = subprocess.run(
        [
            tmp_path / "runtime" / "bin" / "python",
            "-B",
            "-c",
            "import sys, json; print(json.dumps(sys.prefix))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == os.fspath(tmp_path / "runtime")


def test_declining_third_party_provider_leaves_auto_to_the_builtins(
    tmp_path: Path, source_prefix: Path, isolated, stack_writer
) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(Declining()), name="declining")
    with isolated(
        tmp_path / "cache", UV_OFFLINE="1", ENVSTACKS_PYTHON_SEARCH_PATH=os.fspath(source_prefix)
    ):
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="auto")
        result, reporter = _provision(spec, tmp_path / "runtime", pm)
    assert result.provider == "local"
    [info] = [text for text in reporter.texts("info") if "runtime provider" in text]
    # Asked in the auto order: the third-party provider, then uv-managed, then local.
    assert info.index("declining: no runtime") < info.index("uv-managed: skipped: offline")


def test_broken_third_party_runtime_is_rejected_and_removed(
    offline_auto, tmp_path: Path, isolated, stack_writer
) -> None:
    provided, _reporter, template = offline_auto
    # Claims a version it does not have: provision_runtime checks by running it.
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(CopyProvider(template, version="3.12.99")), name="liar")
    with isolated(tmp_path / "cache"):
        spec = stack_writer(tmp_path / "project", python="cpython@3.11", provider="auto")
        with pytest.raises(RuntimeProvisionError) as caught:
            _provision(spec, tmp_path / "runtime", pm)
    message = str(caught.value)
    assert "runtime provider 'copy' made a broken runtime" in message
    assert f"it is Python {provided.version}, not the requested 3.11" in message
    assert not (tmp_path / "runtime").exists()


def test_a_provider_returning_something_else_is_named(
    tmp_path: Path, isolated, stack_writer
) -> None:
    class Wrong:
        name = "wrong"

        def provide(self, request: RuntimeRequest, destination: Path, reporter: Reporter) -> str:
            return "bin/python"

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(Wrong()), name="wrong")
    with isolated(tmp_path / "cache"):
        spec = stack_writer(tmp_path / "project", python="cpython@3.12", provider="wrong")
        with pytest.raises(RuntimeProvisionError, match="'wrong' returned str, not Provided"):
            _provision(spec, tmp_path / "runtime", pm)


def test_a_runtime_named_for_another_version_is_warned_about(
    tmp_path: Path, python_for: Callable[[str], Path], isolated
) -> None:
    """``cpython-3.12`` given CPython 3.13 builds, with a warning naming both and the fixes."""
    python_for("3.13")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.venvstacks]\nruntime-provider = "local"\n\n'
        '[[tool.venvstacks.runtimes]]\nname = "cpython-3.12"\n'
        'python_implementation = "cpython@3.13"\nrequirements = []\n',
        encoding="utf-8",
    )
    from envstacks.stages.stackspec import load

    with isolated(tmp_path / "cache"):
        result, reporter = _provision(load(project / "pyproject.toml"), tmp_path / "rt")
    assert result.version.startswith("3.13.")
    assert reporter.texts("warning") == [
        "runtime layer 'cpython-3.12' (tool.venvstacks.runtimes[0]): its name states Python "
        f"3.12, but python_implementation = 'cpython@3.13' gave CPython {result.version}; "
        "rename the layer (and the `runtime` keys naming it) or set "
        "python_implementation = 'cpython@3.12'"
    ]


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("cpython-3.12", "3.12.1", None),
        ("cpython-3.12", "3.13.0", "3.12"),
        ("cpython3_11", "3.12.1", "3.11"),
        ("runtime", "3.13.0", None),
        ("cpython-3.12.1", "3.12.4", None),
        ("py-2024.10", "3.12.1", None),
    ],
)
def test_name_version_mismatch(name: str, version: str, expected: str | None) -> None:
    from envstacks.stages.runtime.provision import name_version_mismatch

    assert name_version_mismatch(name, version) == expected
