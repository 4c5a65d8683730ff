"""``pdm venvstacks``: the CLI's verbs inside PDM, with PDM's project and PDM-style errors.

These run in-process through ``pdm.pytest``'s ``pdm`` fixture (a fresh ``Core`` that loads
installed plugins, so they also prove the ``pdm`` entry point works).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import tomllib
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from envstacks.frontends import cli
from envstacks.frontends.cli import VERBS
from envstacks.frontends.integrations.pdm_commands import COMMAND, register

PROJECTS = Path(__file__).parents[2] / "projects"


def _use_stack(project: Any, stack: dict[str, Any]) -> None:
    """Put a ``[tool.venvstacks]`` table into the PDM test project's pyproject (on disk)."""
    path = Path(project.root) / "pyproject.toml"
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    doc.setdefault("tool", {})["venvstacks"] = stack
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _stackapp_table() -> dict[str, Any]:
    data = tomllib.loads((PROJECTS / "stackapp" / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, Any] = data["tool"]["venvstacks"]
    return table


def test_register_adds_the_command_group(core: Any) -> None:
    register(core)
    assert COMMAND in core.subparsers.choices


def test_bare_group_is_a_usage_error_and_help_lists_every_verb(pdm: Any, project: Any) -> None:
    """One rule for ``envstacks`` and ``pdm venvstacks`` alone: the help on stderr, status 2."""
    bare = pdm([COMMAND], obj=project)
    helped = pdm([COMMAND, "--help"], obj=project)
    assert bare.exit_code == 2 and helped.exit_code == 0
    assert bare.stdout == ""
    for verb in VERBS:
        assert verb.name in bare.stderr
        assert verb.help in helped.stdout
    assert "docs: https://" in helped.stdout


def test_verb_help_has_a_description_examples_and_the_docs_link(pdm: Any, project: Any) -> None:
    result = pdm([COMMAND, "build", "--help"], obj=project, strict=True)
    assert "Build one environment per selected layer" in result.stdout
    assert "pdm venvstacks build --lock-if-needed --publish" in result.stdout
    assert "docs: https://envstacks.readthedocs.io/en/latest/cli/#build" in result.stdout


def test_mistyped_verb_names_the_closest(pdm: Any, project: Any) -> None:
    result = pdm([COMMAND, "buld"], obj=project)
    assert result.exit_code == 2
    assert "argument COMMAND: invalid choice: 'buld' (did you mean 'build'?)" in result.stderr
    assert "argument :" not in result.stderr


def test_mistyped_option_names_the_closest_with_the_verbs_usage(pdm: Any, project: Any) -> None:
    result = pdm([COMMAND, "build", "--inclde", "app-*"], obj=project)
    assert result.exit_code == 2
    assert "pdm venvstacks build [-h]" in result.stderr
    assert "unrecognized arguments: --inclde app-* (did you mean --include?)" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", COMMAND, "show"],
        [COMMAND, "-v", "show"],
        [COMMAND, "show", "-v"],
    ],
    ids=["before-the-group", "before-the-verb", "after-the-verb"],
)
def test_verbose_counts_wherever_pdm_accepts_it(pdm: Any, project: Any, argv: list[str]) -> None:
    """PDM's -v shows the traceback of an error, at every level of the command line."""
    result = pdm(argv, obj=project)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_verb_options_are_the_clis(pdm: Any, project: Any, verb: str) -> None:
    """Every option of ``envstacks <verb>`` exists under ``pdm venvstacks <verb>``."""
    result = pdm([COMMAND, verb, "--help"], obj=project)
    assert result.exit_code == 0, result.stderr
    parser = cli.build_parser()
    subparsers = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    options = {
        option
        for action in subparsers[verb]._actions
        for option in action.option_strings
        if option.startswith("--") and option not in {"--help", "--verbose", "--quiet"}
    }
    assert options
    missing = sorted(option for option in options if option not in result.stdout)
    assert not missing, result.stdout


def test_unknown_subcommand_is_a_usage_error(pdm: Any, project: Any) -> None:
    result = pdm([COMMAND, "nope"], obj=project)
    assert result.exit_code != 0
    assert "invalid choice: 'nope'" in result.stderr


def test_bad_spec_exits_1_with_the_message_and_no_traceback(pdm: Any, project: Any) -> None:
    table = _stackapp_table()
    table["frameworks"][0]["runtime"] = "cpython-3.99"
    _use_stack(project, table)
    result = pdm([COMMAND, "show"], obj=project)
    assert result.exit_code == 1
    assert re.search(
        r"pyproject\.toml:\d+: tool\.venvstacks\.frameworks\[0\]\.runtime: ", result.stderr
    )
    assert "cpython-3.99" in result.stderr
    assert "\nhint: name one of the defined runtimes" in result.stderr
    assert "Traceback" not in result.stderr
    verbose = pdm([COMMAND, "show", "-v"], obj=project)
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr


def test_markup_in_messages_is_shown_verbatim(pdm: Any, project: Any) -> None:
    """PDM renders rich markup; a message naming ``[tool.venvstacks]`` must survive intact."""
    result = pdm([COMMAND, "show"], obj=project)
    assert result.exit_code == 1
    assert "[tool.venvstacks]" in result.stderr


def test_show_json_matches_the_cli(pdm: Any, project: Any) -> None:
    _use_stack(project, _stackapp_table())
    result = pdm([COMMAND, "show", "--json"], obj=project, strict=True)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["show", "--json", str(Path(project.root))]) == 0
    assert result.stdout == out.getvalue()
    assert '"app-hello"' in result.stdout


def test_lock_check_runs_on_the_pdm_project(pdm: Any, project: Any) -> None:
    """``pdm venvstacks lock --check``: CI's check on PDM's project, with real committed locks."""
    example = Path(__file__).parents[3] / "example_projects" / "pdm-app"
    table = tomllib.loads((example / "pyproject.toml").read_text(encoding="utf-8"))
    stack = table["tool"]["venvstacks"]
    del stack["applications"]  # its lock records the example project, not PDM's test project
    _use_stack(project, stack)
    for layer in ("cpython-3.12", "framework-tabulate"):
        shutil.copytree(
            example / "requirements" / layer, Path(project.root) / "requirements" / layer
        )
    valid = pdm([COMMAND, "lock", "--check"], obj=project, strict=True)
    assert valid.stdout.splitlines() == ["valid: cpython-3.12", "valid: framework-tabulate"]
    stack["frameworks"][0]["requirements"] = ["tabulate"]
    _use_stack(project, stack)
    stale = pdm([COMMAND, "lock", "--check"], obj=project)
    assert stale.exit_code == 1
    assert "framework-tabulate: requirements changed" in stale.stderr
    # The hint names the command as a PDM user types it, not the standalone CLI.
    assert "hint: run `pdm venvstacks lock --if-needed`" in stale.stderr
