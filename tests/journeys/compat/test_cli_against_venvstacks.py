"""Every command line venvstacks 0.8 accepts, given to both tools: the same selection, or refusal.

The command lines are upstream's ``test_cli_invocation.py`` ones (read from the file) and every
option spelling venvstacks' own command line defines (read from its click commands: each flag,
its ``--no-`` form, each option with a value), each on venvstacks' sample project. venvstacks
runs them all in one process (``venvstacks.cli.main``, the runtime download never reached:
``--show-only``); envstacks runs them in this one. Both must exit alike and, where they print
the stack status JSON, list the same layers with the same selected operations.

Lock validity is left out of the comparison: the venvstacks on PyPI (0.8.0b2) computes it with
a formula that 0.8.0, whose committed locks the sample project has, changed (0.8.0b2 judges
them all stale); envstacks follows 0.8.0 (``tests/compat/test_committed_locks.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envstacks.frontends.cli import main
from kits import upstream
from kits.upstream import MOCK_SPEC
from kits.venvstacks_peer import Venvstacks

#: Runs command lines with venvstacks' CLI in its own interpreter; lists its option spellings.
DRIVER = """\
import contextlib, io, json, sys, warnings
warnings.filterwarnings("ignore")
import typer
from venvstacks import cli
group = typer.main.get_command(cli._cli)
if sys.argv[1] == "options":
    options = {}
    for name, command in group.commands.items():
        options[name] = [
            {"names": [*p.opts, *p.secondary_opts], "flag": p.is_flag}
            for p in command.params
            if p.param_type_name == "option" and "--help" not in p.opts
        ]
    json.dump(options, sys.stdout)
    sys.exit(0)
results = []
for argv in json.loads(open(sys.argv[2]).read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
json.dump(results, sys.stdout)
"""
#: A value for each option that takes one (patterns match layers of the sample project).
VALUES = {
    "--include": "*",
    "--reset-lock": "app-*",
    "--build-dir": "custom-build",
    "--output-dir": "custom-output",
    "--local-wheels": "wheels",
}
#: venvstacks refuses these conflicting instructions (sample project: frameworks are both
#: dependencies of the apps and built on the runtimes); so must envstacks.
CONFLICTING = [
    "lock",
    "--include",
    "app-*",
    "--include",
    "*-3.*",
    "--include",
    "framework-http-client",
]


def _venvstacks(venvstacks: Venvstacks, work: Path, *args: str) -> Any:
    driver = work / "driver.py"
    driver.write_text(DRIVER)
    done = subprocess.run(
        [venvstacks.python, driver, *args],
        capture_output=True,
        text=True,
        check=True,
        env=venvstacks.environ(),
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tests = upstream.copy_tests_folder(
        tmp_path_factory.mktemp("cli"), ["sample_project", "minimal_project"]
    )
    return tests / "sample_project" / "venvstacks.toml"


@pytest.fixture(scope="module")
def command_lines(
    sample: Path, venvstacks: Venvstacks, tmp_path_factory: pytest.TempPathFactory
) -> list[list[str]]:
    """Every accepted command line, ending with the options that make it show and stop."""
    spec = str(sample)
    lines: list[list[str]] = []
    for invocation in upstream.cli_invocations():
        if (
            MOCK_SPEC in invocation.argv
            and invocation.test.startswith(
                (
                    "test_mock_",
                    "test_build_dir",
                    "test_output_dir",
                    "test_layer",
                    "test_lock_reset",
                    "test_index",
                    "test_show_only",
                )
            )
            and "usage_error" not in invocation.test
        ):
            lines.append([spec if arg == MOCK_SPEC else arg for arg in invocation.argv])
    options = _venvstacks(venvstacks, tmp_path_factory.mktemp("options"), "options")
    for command, params in options.items():
        for param in params:
            for name in param["names"]:
                value = [] if param["flag"] else [VALUES[name]]
                lines.append([command, name, *value, spec])
    return [
        [*line, *(["--json"] if line[0] == "show" else ["--show-only", "--json"])] for line in lines
    ] + [[*CONFLICTING, spec]]


def test_both_tools_select_the_same_operations(
    command_lines: list[list[str]],
    venvstacks: Venvstacks,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv_file = tmp_path / "argv.json"
    argv_file.write_text(json.dumps(command_lines))
    theirs = _venvstacks(venvstacks, tmp_path, "run", str(argv_file))
    assert len(theirs) == len(command_lines) > 100
    differences: list[str] = []
    refused: list[list[str]] = []
    for argv, their in zip(command_lines, theirs, strict=True):
        code = main(argv)
        ours = capsys.readouterr()
        if (code, their["code"]) == (1, 1):
            refusal = re.search(r"Conflicting \w+ instructions for \[[^]]*\]", their["out"])
            assert refusal and refusal.group(0) in ours.err, (argv, their, ours.err)
            refused.append(argv)
            continue
        if code != their["code"]:
            differences.append(f"{argv}: exit {code}, venvstacks {their['code']}: {ours.err}")
        elif code == 0:
            differences += _compare(argv, json.loads(ours.out), json.loads(their["out"]))
    assert not differences, "\n".join(differences)
    assert [*CONFLICTING, str(command_lines[-1][-1])] in refused


#: What a status JSON says of lock validity (see the module docstring).
LOCK_FIELDS = ("has_valid_lock", "install_target")


def _selection(status: Any) -> Any:
    """A status JSON without what it says of lock validity."""
    if isinstance(status, dict):
        return {k: _selection(v) for k, v in status.items() if k not in LOCK_FIELDS}
    if isinstance(status, list):
        return [_selection(item) for item in status]
    return status


def _compare(argv: list[str], ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """How two status JSONs differ, one line per difference (empty: they are equal)."""
    ours, theirs = _selection(ours), _selection(theirs)
    if ours == theirs:
        return []
    found = [f"{' '.join(argv[:-3])}:"]
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) == theirs.get(key):
            continue
        if not isinstance(ours.get(key), list):
            found.append(f"  {key}: {ours.get(key)!r} != {theirs.get(key)!r}")
            continue
        mine = {layer["name"]: layer for layer in ours[key]}
        their = {layer["name"]: layer for layer in theirs[key]}
        for name in sorted(set(mine) | set(their)):
            if mine.get(name) != their.get(name):
                found.append(f"  {name}: {mine.get(name)} != {their.get(name)}")
    return found
