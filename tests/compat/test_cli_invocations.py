"""Every command line of venvstacks' ``test_cli_invocation.py``, run through envstacks' CLI.

The command lines and what upstream's tests expect of them are read from the file itself
(:func:`kits.upstream.cli_invocations`); the spec is venvstacks' sample project, whose committed
locks are valid. For each command line venvstacks accepts, envstacks must accept it too, select
the same operations for the same layers (checked on ``--show-only --json``, venvstacks' status
JSON), and ask the pipeline for what venvstacks asks its API for (checked on the request the
command hands the pipeline, whose run is replaced by a recorder here: running 60 builds is the
journeys' job). Command lines venvstacks refuses as usage errors are refused with status 2.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.platforms import host_platform
from envstacks.frontends.cli import main
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.plan import Op
from envstacks.orchestrator.session import Session
from kits import upstream
from kits.upstream import MOCK_SPEC, CliInvocation

#: What each upstream test of an accepted command line checks, as far as envstacks' output shows.
ACCEPTED = {
    "test_build_dir_configuration",
    "test_output_dir_configuration",
    "test_layer_selection",
    "test_lock_reset_selection",
    "test_layer_selection_with_lock_reset",
    "test_index_options",
    "test_show_only_option",
    "test_mock_show",
    "test_mock_build_op_selection",
    "test_mock_lock_op_selection",
    "test_mock_publish_op_selection",
    "test_mock_export_op_selection",
}
USAGE_ERRORS = {
    "test_mock_lock_usage_error",
    "test_mock_publish_usage_error",
    "test_mock_export_usage_error",
}
#: venvstacks' ``StackStatus`` groups.
GROUPS = ("runtimes", "frameworks", "applications")


def _invocations(tests: set[str], *, running: bool = False) -> list[Any]:
    """The invocations of these upstream tests.

    ``running``: only those of commands that run the pipeline (all but ``show``).
    """
    if not (upstream.UPSTREAM / "tests").is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {upstream.UPSTREAM}"))]
    return [
        pytest.param(invocation, id=invocation.id)
        for invocation in upstream.cli_invocations()
        if invocation.test in tests and not (running and invocation.argv[0] == "show")
    ]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of venvstacks' sample project (with the minimal project its modules reach into)."""
    tests = upstream.copy_tests_folder(
        tmp_path_factory.mktemp("upstream"), ["sample_project", "minimal_project"]
    )
    return tests / "sample_project" / "venvstacks.toml"


@pytest.fixture(scope="module")
def default_selection() -> dict[str, Mapping[str, Any]]:
    """Each command's ``select_operations`` arguments without options (upstream's tables)."""
    found = {}
    for invocation in upstream.cli_invocations():
        if invocation.test.endswith("_op_selection") and not invocation.bindings["cli_flags"]:
            found[invocation.argv[0]] = invocation.bindings["expected_select_args"]
    return found


def _argv(invocation: CliInvocation, spec: Path, *extra: str) -> list[str]:
    assert MOCK_SPEC in invocation.argv, invocation
    return [str(spec) if arg == MOCK_SPEC else arg for arg in invocation.argv] + list(extra)


def _option_values(argv: tuple[str, ...], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == option]


def _label(name: str, wanted: bool | None) -> list[str]:
    """As venvstacks' ``_op_state_to_str``: True -> the name, None -> "<name>-if-needed"."""
    if wanted:
        return [name]
    return [f"{name}-if-needed"] if wanted is None else []


def _labels(select: Mapping[str, Any], *, reset: bool, on_host: bool) -> list[str]:
    """The operations venvstacks' ``select_operations(**select)`` gives one layer."""
    build = select["build"] and on_host if select["build"] is not None else None
    return [
        *(["reset-lock"] if reset else []),
        *_label("lock", select["lock"]),
        *_label("build", build),
        *_label("publish", select["publish"] and on_host),
    ]


def _layers(status: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for group in GROUPS:
        yield from status[group]


def _targets_host(spec: Path) -> dict[str, bool]:
    from envstacks.stages.stackspec import load

    loaded = load(spec)
    return {layer.build_name: layer.targets(host_platform()) for layer in loaded.enabled_layers}


@pytest.mark.parametrize("invocation", _invocations({"test_help_option"}))
def test_help_is_printed(invocation: CliInvocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(list(invocation.argv)) == 0
    assert capsys.readouterr().out.startswith(f"usage: envstacks {invocation.argv[0]} ")


@pytest.mark.parametrize("invocation", _invocations({"test_implicit_help"}))
def test_no_arguments_is_a_usage_error(
    invocation: CliInvocation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(list(invocation.argv)) == 2
    assert "usage: envstacks" in capsys.readouterr().err


@pytest.mark.parametrize("invocation", _invocations({"test_usage_error"}))
def test_without_a_spec_the_current_folder_is_read(
    invocation: CliInvocation,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without SPEC: venvstacks stops (status 2); envstacks reads the current folder's spec.

    A deliberate difference (docs/migrating.md): in a folder without a spec, the command
    stops with status 1 and says what it looked for.
    """
    monkeypatch.chdir(tmp_path)
    assert main(list(invocation.argv)) == 1
    assert "no stack specification found" in capsys.readouterr().err


@pytest.mark.parametrize("invocation", _invocations(USAGE_ERRORS))
def test_what_venvstacks_refuses_is_a_usage_error(
    invocation: CliInvocation, sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv(invocation, sample)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"usage: envstacks {invocation.argv[0]} ")
    assert f"unrecognized arguments: {invocation.bindings['invalid_flag']}" in captured.err


@pytest.mark.parametrize("invocation", _invocations(ACCEPTED))
def test_the_same_operations_are_selected(
    invocation: CliInvocation,
    sample: Path,
    default_selection: Mapping[str, Mapping[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = invocation.argv[0]
    json_flags = ["--json"] if command == "show" else ["--show-only", "--json"]
    assert main(_argv(invocation, sample, *json_flags)) == 0, capsys.readouterr().err
    status = json.loads(capsys.readouterr().out)
    assert status["spec_name"] == str(sample)
    shown = {layer["name"]: layer for layer in _layers(status)}
    on_host = _targets_host(sample)
    includes = _option_values(invocation.argv, "--include")
    resets = _option_values(invocation.argv, "--reset-lock")
    if command == "show":
        # `show` reports no operations, and each layer's dependencies (venvstacks'
        # report_ops=False, include_deps=True).
        assert all(layer["selected_operations"] is None for layer in shown.values())
        assert all("dependencies" in shown[name] for name in shown if name.startswith("app-"))
        selected = [name for name in on_host if any(fnmatch.fnmatch(name, p) for p in includes)]
        assert set(selected) <= set(shown) and (includes or set(shown) == set(on_host))
        return
    # `--show-only` reports operations and no dependencies (report_ops=True, include_deps=False).
    assert not any("dependencies" in layer for layer in shown.values())
    select = invocation.bindings.get("expected_select_args", default_selection[command])
    included = [
        name for name in on_host if not includes or any(fnmatch.fnmatch(name, p) for p in includes)
    ]
    assert included and set(included) <= set(shown)
    if not includes and not resets:
        assert set(shown) == set(on_host)
    for name in included:
        reset = any(fnmatch.fnmatch(name, pattern) for pattern in resets)
        expected = _labels(select, reset=reset, on_host=on_host[name])
        assert shown[name]["selected_operations"] == expected, name


@dataclass
class _Recorded:
    """What the command handed the pipeline (the run itself is not this test's subject)."""

    session: Session | None = None
    request: pipeline.StackRequest | None = None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    recorded = _Recorded()

    def record(
        session: Session,
        request: pipeline.StackRequest,
        plan: Any = None,
    ) -> pipeline.StackResult:
        recorded.session, recorded.request = session, request
        return pipeline.StackResult(plan=plan or session.plan(request.plan))

    monkeypatch.setattr(pipeline, "run", record)
    return recorded


#: venvstacks' API values for ``lock``: ``True``, ``None`` ("if needed"), ``False``.
_LOCK = {True: Op.RUN, None: Op.IF_NEEDED, False: Op.SKIP}


@pytest.mark.parametrize("invocation", _invocations(ACCEPTED, running=True))
def test_the_pipeline_gets_what_venvstacks_asks_its_api_for(
    invocation: CliInvocation,
    sample: Path,
    recorder: _Recorded,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = _argv(invocation, sample)
    assert main(argv) == 0, capsys.readouterr().err
    session, request = recorder.session, recorder.request
    if "--show-only" in argv:
        assert request is None, "--show-only ran the command"
        return
    assert session is not None and request is not None, "the command did not run"
    settings, root, binds = session.spec.settings, sample.parent, invocation.bindings
    command = invocation.argv[0]
    # Folders: relative to the spec's folder, as venvstacks resolves them.
    assert settings.build_dir == root / binds.get("expected_build_dir", "_build")
    if "expected_output_dir" in binds:
        output = settings.export_dir if command == "local-export" else settings.output_dir
        assert output == root / binds["expected_output_dir"]
    if "expected_select_args" in binds:
        assert request.plan.lock is _LOCK[binds["expected_select_args"]["lock"]]
    config = binds.get("expected_index_config")
    if config is not None and config["__call__"] == "PackageIndexConfig.disabled":
        # Commands that never lock: nothing of theirs queries an index.
        assert request.lock is None and not request.plan.steps, request
    elif config is not None:
        # venvstacks' PackageIndexConfig(...), its defaults filled in.
        config = {"query_default_index": True, "local_wheel_dirs": None, **config}
        assert request.lock is not None and request.lock.index is config["query_default_index"]
        wheels = config["local_wheel_dirs"] or ()
        assert request.lock.local_wheels == tuple(root / path for path in wheels)
    expectations = {
        "expected_lock_args": lambda args: (
            request.lock is not None and request.lock.clean == args["clean"]
        ),
        "expected_create_args": lambda args: (
            request.build is not None
            and request.build.clean == args["clean"]
            and request.plan.lock is _LOCK[args["lock"]]
        ),
    }
    for name, check in expectations.items():
        if name in binds:
            assert check(binds[name]), (name, binds[name], request)
    if "expected_publish_args" in binds:
        args = binds["expected_publish_args"]
        options = request.export if command == "local-export" else request.publish
        assert options is not None
        for key in ("force", "dry_run", "tag_outputs"):
            if key in args:
                assert getattr(options, key) == args[key], key
