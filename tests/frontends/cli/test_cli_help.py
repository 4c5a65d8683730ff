"""The command line teaches: help with examples and docs links, usage errors that suggest.

Also what it prints around the results: the end-of-verb summary line, ``-q``, ``--color``
and ``--no-progress`` (the reporter chosen for a terminal or a log).
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from envstacks.floor.report import NORMAL, QUIET, LineReporter
from envstacks.frontends.cli import VERBS, build_parser, main
from envstacks.frontends.cli._output import make_reporter, use_color
from envstacks.frontends.cli._parser import DOCS_URL
from envstacks.frontends.cli.console import RichReporter

SPECS = Path(__file__).parents[2] / "stages" / "stackspec" / "specs"
SPEC = SPECS / "good" / "minimal_project.toml"
CLI_DOC = (Path(__file__).parents[3] / "docs" / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_a_parser_built_for_one_verb_reads_its_command_lines_as_the_whole_one_does(
    verb: str,
) -> None:
    # main() builds only the named verb's options (a no-op build does not pay for the others').
    item = next(v for v in VERBS if v.name == verb)
    for arguments, _ in item.examples:
        words = shlex.split(arguments)
        words = words[: next((i for i, word in enumerate(words) if word in {">", "|"}), None)]
        argv = ["-q", verb, *words, "--color", "never"]
        narrowed = build_parser(only=verb).parse_args(argv)
        assert narrowed == build_parser().parse_args(argv), argv
        assert narrowed.verb == verb
    # Without a verb (--help, --version, a misspelt verb), no verb's options are built.
    assert build_parser(only="").format_help() == build_parser().format_help()


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_every_verb_help_has_a_description_examples_and_its_docs_link(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    item = next(v for v in VERBS if v.name == verb)
    assert item.description.split("\n")[0] in out
    assert len(item.examples) >= 2
    for arguments, what in item.examples:
        assert f"# {what}" in out
        assert f"envstacks {verb} {arguments}".rstrip() in out
    assert f"docs: {DOCS_URL}#{verb}" in out
    # The link's anchor is the heading of the verb's section in docs/cli.md.
    assert re.search(rf"^## `{re.escape(verb)}`$", CLI_DOC, flags=re.MULTILINE)


def test_top_level_help_lists_the_verbs_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(v.name in out for v in VERBS)
    assert "envstacks build --lock-if-needed --publish" in out
    assert f"docs: {DOCS_URL}" in out


def test_no_command_prints_the_help_to_stderr_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: envstacks" in captured.err and "commands:" in captured.err


def test_mistyped_verb_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["buld"]) == 2
    err = capsys.readouterr().err
    assert "usage: envstacks [-h]" in err
    assert "argument COMMAND: invalid choice: 'buld' (did you mean 'build'?); choose from " in err


def test_mistyped_option_gets_the_verbs_usage_and_a_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["build", "--inclde=app-*", "--ouput-dir=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: envstacks build [-h]")
    assert (
        "envstacks build: error: unrecognized arguments: --inclde=app-* --ouput-dir=x "
        "(did you mean --include for --inclde, --output-dir for --ouput-dir?)"
    ) in err


def test_bad_color_choice_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--color", "allways", str(SPEC)]) == 2
    err = capsys.readouterr().err
    assert "argument --color: invalid choice: 'allways' (did you mean 'always'?)" in err


def test_show_ends_with_the_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(SPEC)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(str(SPEC))
    # Before it, why the locks are stale (none of the 9 layers is locked).
    assert re.search(r"\n  cpython-3\.11, .*, app-no-framework: no lock file\n", captured.err)
    assert re.search(r"\ndone in \d+\.\d s: 9 layers, 9 need locking\n\Z", captured.err)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_prints_only_what_was_asked_for(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-q", "show", str(SPEC)] if where == "before" else ["show", str(SPEC), "-q"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "*app-empty" in captured.out  # the tree is what `show` was asked for


def _warning_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``show`` with a pattern that matches nothing (a warning); the standard error."""
    assert main([*argv, "show", str(SPEC), "--include", "nope", "--allow-missing"]) == 0
    return capsys.readouterr().err


def test_color_always_colours_warnings_even_in_a_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # an explicit --color always wins over NO_COLOR
    err = _warning_run(["--color", "always"], capsys)
    assert "\x1b[33mwarning:\x1b[0m no layer matches 'nope'" in err


def test_color_never_and_no_color_print_plain_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" not in _warning_run(["--color", "never"], capsys)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in _warning_run([], capsys)
    monkeypatch.setenv("NO_COLOR", "1")  # NO_COLOR wins over FORCE_COLOR for "auto"
    err = _warning_run([], capsys)
    assert "\x1b[" not in err and "warning: no layer matches 'nope'" in err


class _Terminal(io.StringIO):
    """A stream that says it is a terminal (what ``make_reporter`` checks)."""

    def isatty(self) -> bool:
        return True


def test_reporter_for_a_terminal_a_log_and_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr("sys.stderr", _Terminal())
    live = make_reporter(NORMAL)
    assert isinstance(live, RichReporter) and live.live
    lines = make_reporter(NORMAL, progress=False)
    assert isinstance(lines, RichReporter) and not lines.live  # coloured, but plain lines
    assert not make_reporter(QUIET).live  # type: ignore[attr-defined]
    assert isinstance(make_reporter(NORMAL, progress=False, color="never"), LineReporter)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(make_reporter(NORMAL), LineReporter)
    assert use_color("auto", _Terminal()) and not use_color("auto", io.StringIO())


def test_no_progress_prints_a_start_and_an_end_line_per_step() -> None:
    stream = _Terminal()
    reporter = make_reporter_for(stream)
    with reporter.task("app-x", "pack tar.zst"):
        pass
    text = stream.getvalue()
    assert "app-x: pack tar.zst...\n" in text
    assert re.search(r"app-x: pack tar.zst: done in \d+\.\d s\n", text)


def make_reporter_for(stream: io.StringIO) -> RichReporter:
    """A reporter as ``--no-progress --color never`` makes it, writing to ``stream``."""
    from envstacks.frontends.cli.console import make_console

    return RichReporter(make_console(stream, color=False), verbosity=NORMAL, live=False)


def test_byte_steps_show_sizes_and_a_rate_live_and_in_their_end_line() -> None:
    from rich.progress import Progress

    from envstacks.floor.report import BYTES
    from envstacks.frontends.cli.console import AmountColumn

    stream = _Terminal()
    reporter = make_reporter_for(stream)
    with reporter.task("framework-cuda", "pack tar.zst", total=3_100_000_000, unit=BYTES) as task:
        task.advance(1_900_000_000)
    with reporter.task("app-x", "build", total=4) as task:
        task.advance(4)
    text = stream.getvalue()
    assert re.search(
        r"framework-cuda: pack tar.zst: done in [\d.]+ s \(1\.90 GB, [\d.]+ [kMG]?B/s\)", text
    )
    assert re.search(r"app-x: build: done in [\d.]+ s\n", text)  # a count, not bytes

    lines = io.StringIO()
    with LineReporter(lines).task("cpython-3.12", "unpack", total=10, unit=BYTES) as task:
        task.advance(12_300_000)
    assert re.search(
        r"cpython-3.12: unpack: done in [\d.]+ s \(12\.3 MB, [\d.]+ [kMG]?B/s\)", lines.getvalue()
    )

    progress = Progress(AmountColumn(), disable=True)
    sized = progress.add_task("pack", total=3_100_000_000, unit=BYTES)
    counted = progress.add_task("build", total=7)
    progress.advance(sized, 1_200_000_000)
    progress.advance(counted, 3)
    column = AmountColumn()
    assert column.render(progress.tasks[sized]).plain.startswith("1.20 GB/3.10 GB")
    assert column.render(progress.tasks[counted]).plain == "3/7"
