"""Requirement strings: one canonical spelling, and the one way requirement lists are compared.

* :func:`canonical` is packaging's spelling (``str(Requirement(text))``); what a lock records
  of a wheel's ``Requires-Dist`` is spelled so;
* :func:`normalized` and :func:`same_requirements` compare lists whatever their order,
  duplicates and spelling (the project's wheel against its lock entry, its static
  ``[project].dependencies`` against the same entry);
* :func:`clean_requirements` turns declared requirement lines into the list venvstacks hashes
  (``lock_input_hash``) and the generated uv project declares: each in packaging's spelling
  (markers double-quoted, as ``str(Requirement(...))`` writes them), comments, blanks and
  ``--hash`` options dropped, sorted.

A string packaging cannot parse is kept as written: it is compared as text, and uv reports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["canonical", "clean_requirements", "normalized", "requirement_name", "same_requirements"]


def _parsed(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def canonical(text: str) -> str:
    """A requirement in packaging's spelling (``six>=1; python_version >= "3"`` and the like)."""
    parsed = _parsed(text)
    return text if parsed is None else str(parsed)


def requirement_name(text: str) -> str | None:
    """The normalised distribution name of a requirement (``None`` if it does not parse)."""
    parsed = _parsed(text)
    return None if parsed is None else canonicalize_name(parsed.name)


def _for_extra(text: str) -> bool:
    """Whether only an extra asks for the requirement (its marker mentions ``extra``)."""
    parsed = _parsed(text)
    return parsed is not None and parsed.marker is not None and "extra" in str(parsed.marker)


def normalized(requirements: Iterable[str], *, without_extras: bool = False) -> tuple[str, ...]:
    """Requirements in canonical spelling, sorted, each once (the form lists are compared in).

    ``without_extras`` leaves out requirements only an extra asks for, as a wheel's
    ``Requires-Dist`` lists them but ``[project].dependencies`` does not.
    """
    kept = (text for text in requirements if not (without_extras and _for_extra(text)))
    return tuple(sorted({canonical(text) for text in kept}))


def same_requirements(
    first: Iterable[str], second: Iterable[str], *, without_extras: bool = False
) -> bool:
    """Whether two requirement lists ask for the same things (see :func:`normalized`)."""
    return normalized(first, without_extras=without_extras) == normalized(
        second, without_extras=without_extras
    )


def clean_requirements(lines: Iterable[str]) -> list[str]:
    """Requirement lines as venvstacks 0.8 hashes them: canonical, filtered, sorted.

    venvstacks parses every declared requirement when it loads the spec and hashes
    ``str(Requirement(text))`` (``dlltracer; sys_platform == "win32"``, double quotes however
    the TOML file wrote them), after dropping comments, blank lines and ``--hash`` options.
    Anything else (single quotes, say) would make every venvstacks lock of a layer with a
    marker look stale, and each tool relock the other's locks.
    """
    cleaned: list[str] = []
    for line in lines:
        text = canonical(line.strip()).rstrip("\\").strip().partition("#")[0].strip()
        if text and "--hash" not in text:
            cleaned.append(text)
    return sorted(cleaned)
