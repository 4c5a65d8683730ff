"""Argument parsing that teaches: usage errors with "did you mean", in the right sub-usage.

argparse alone names no close match for a mistyped verb or option, and reports an unknown
option of a verb with the top-level usage. :class:`SuggestingParser` fixes both and is
used by the standalone CLI and (mixed into PDM's parser class) by the PDM command group,
so a usage error reads the same in both. Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from envstacks.floor.suggest import closest

#: Where the documentation of the command line lives; each verb has an anchor.
DOCS_URL = "https://envstacks.readthedocs.io/en/latest/cli/"


class SuggestingParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors suggest the closest verb or option.

    Unknown arguments are reported by the parser they were given to (``envstacks build
    --inclde`` shows the usage of ``build``), never passed up to the top-level parser.
    """

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """Fail on a value outside ``choices``, naming the closest choice."""
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(choice) for choice in choices]
        raise argparse.ArgumentError(action, invalid_choice(str(value), names))

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse; an argument this parser does not know is a usage error of this parser."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(unrecognized(extras, self.option_names()))
        return parsed, extras

    def option_names(self) -> list[str]:
        """Every long and short option this parser accepts."""
        return [name for action in self._actions for name in action.option_strings]


def invalid_choice(value: str, choices: Sequence[str]) -> str:
    """``invalid choice: 'buld' (did you mean 'build'?); choose from ...``."""
    hit = closest(value, choices)
    suggestion = f" (did you mean {hit!r}?)" if hit is not None else ""
    return f"invalid choice: {value!r}{suggestion}; choose from {', '.join(choices)}"


def unrecognized(extras: Iterable[str], options: Sequence[str]) -> str:
    """``unrecognized arguments: --inclde x (did you mean --include?)``."""
    extras = list(extras)
    long_options = [option for option in options if option.startswith("--")]
    hints: list[tuple[str, str]] = []
    for extra in extras:
        if extra.startswith("-"):
            name = extra.split("=", 1)[0]
            hit = closest(name, long_options)
            if hit is not None and hit != name:
                hints.append((name, hit))
    if len(hints) == 1:
        suggestion = f" (did you mean {hints[0][1]}?)"
    elif hints:
        suggestion = f" (did you mean {', '.join(f'{hit} for {name}' for name, hit in hints)}?)"
    else:
        suggestion = ""
    return f"unrecognized arguments: {' '.join(extras)}{suggestion}"


def epilog(prog: str, examples: Sequence[tuple[str, str]], anchor: str) -> str:
    """The end of a verb's ``--help``: examples (each with what it does) and the docs link.

    ``prog`` is how the user calls the command line (``envstacks``, ``pdm venvstacks``);
    each example is ``(arguments, what it does)``.
    """
    lines = ["examples:"]
    for arguments, what in examples:
        lines += [f"  # {what}", f"  {prog} {arguments}"]
    lines += ["", f"docs: {DOCS_URL}#{anchor}"]
    return "\n".join(lines)
