"""docs/cli.md documents every option of every command (derived from the real parser)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from envstacks.frontends.cli import build_parser, main
from envstacks.frontends.cli._options import Flag

DOC = (Path(__file__).parents[3] / "docs" / "cli.md").read_text(encoding="utf-8")


#: Options documented once, in "Options for every command" and "Selecting layers".
SHARED = ("--verbose", "--quiet", "--no-progress", "--color", "--include", "--allow-missing")


def _sections() -> dict[str, str]:
    parts = re.split(r"^## `([a-z-]+)`$", DOC, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_has_a_section() -> None:
    assert set(_sections()) == set(_verbs())


#: How the page documents the ``--no-`` form of every on/off option at once.
NO_FORMS = "Every on/off option also has a `--no-` form"


def test_every_option_is_documented_in_its_section() -> None:
    sections = _sections()
    shared = DOC.split("## `show`")[0]
    assert NO_FORMS in shared
    missing = []
    for name, parser in _verbs().items():
        for action in parser._actions:
            for option in action.option_strings:
                if isinstance(action, Flag) and option.startswith("--no-"):
                    continue  # documented by NO_FORMS, with the option it turns off
                if option.startswith("--") and option not in ("--help",):
                    text = sections[name] + (shared if option in SHARED else "")
                    if f"`{option}" not in text and f" {option}" not in text:
                        missing.append(f"{name} {option}")
    assert not missing, f"undocumented options: {missing}"


def _usage_examples() -> list[tuple[list[str], list[str]]]:
    """The commands of the page's usage-error example, each with the lines shown after it."""
    block = DOC.split("A usage error names the closest command or option", 1)[1]
    block = block.split("```text\n", 1)[1].split("\n```", 1)[0]
    examples: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            examples.append((shlex.split(line[2:])[1:], []))
        else:
            examples[-1][1].append(line)
    return examples


def test_usage_error_examples_print_what_the_page_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each shown line is printed as shown (a line ending in `` ...`` is a shortened one)."""
    examples = _usage_examples()
    assert len(examples) >= 2
    for argv, shown in examples:
        assert main(argv) == 2, argv
        printed = capsys.readouterr().err.splitlines()
        for line in shown:
            if line.endswith(" ..."):
                assert any(real.startswith(line[:-4]) for real in printed), (line, printed)
            else:
                assert line in printed, (argv, line, printed)
