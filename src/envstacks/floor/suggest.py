"""Spelling suggestions for messages: the known word closest to one the user wrote.

Stdlib only and cheap to import: the command line's argument parser uses it before any stage
code is loaded, and the spec, the layer selection and the registries word their "did you
mean" the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word``, or ``None`` when none is close.

    A choice that differs only in case, or in ``-`` against ``_``, counts as close.
    """
    known = list(choices)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    folded = {choice.lower().replace("-", "_"): choice for choice in known}
    return folded.get(word.lower().replace("-", "_"))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    hit = closest(word, choices)
    return f" (did you mean {hit!r}?)" if hit is not None else ""
