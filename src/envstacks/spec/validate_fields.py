"""Typed, path-aware readers for raw TOML values; every failure is a SpecError naming the TOML path.

The loader never indexes a raw TOML table directly: it goes through these readers, so a
wrong type, an unknown key or an empty string always produces the same kind of message,
``<toml path>: <what is wrong> (<the bad value>); <how to fix it>``.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.errors import SpecError

#: A raw TOML table as tomllib returns it.
TomlTable = Mapping[str, Any]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_SHOWN = 80


@dataclass(frozen=True, slots=True)
class TomlPath:
    """A dotted TOML path such as ``tool.venvstacks.frameworks[2].runtime`` (0-based indexes)."""

    text: str = ""

    def key(self, name: str) -> TomlPath:
        """The path of ``name`` inside this table (quoted when it is not a bare key)."""
        part = name if _BARE_KEY.fullmatch(name) else _quote(name)
        return TomlPath(f"{self.text}.{part}" if self.text else part)

    def item(self, index: int) -> TomlPath:
        """The path of item ``index`` of this array."""
        return TomlPath(f"{self.text}[{index}]")

    def __str__(self) -> str:
        return self.text or "<top level>"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def kind_of(value: object) -> str:
    """The TOML type of a value, with its article: ``"a string"``, ``"an array"``..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return "a date/time"
    return f"a {type(value).__name__}"


def show(value: object) -> str:
    """The value as TOML-minded readers know it (``repr``), shortened when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping):
        text = repr(dict(value))
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + " ..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {choice.lower().replace("-", "_"): choice for choice in choices}
        hit = lowered.get(word.lower().replace("-", "_"))
        close = [hit] if hit else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def quoted_list(names: Iterable[str]) -> str:
    """Names as ``'a', 'b'`` for messages, or ``none`` when there are none."""
    items = [repr(name) for name in names]
    return ", ".join(items) if items else "none"


def spec_error(where: TomlPath | str, problem: str, fix: str) -> SpecError:
    """The error for ``where``: ``<where>: <problem>; <fix>`` (raise the result)."""
    return SpecError(f"{where}: {problem}; {fix}")


def check_keys(
    table: TomlTable, allowed: Iterable[str], where: TomlPath, *, what: str, fix: str
) -> None:
    """Fail on the first key of ``table`` that is not in ``allowed``.

    ``what`` names the table in the message (``"key of framework 'sklearn'"``); ``fix`` is
    the general advice given after the "did you mean" suggestion.
    """
    known = tuple(allowed)
    for key in table:
        if key not in known:
            raise spec_error(
                where.key(key),
                f"unknown {what} {key!r}{did_you_mean(key, known)}",
                fix,
            )


def _got(value: object, owner: str) -> str:
    return f"got {kind_of(value)} {show(value)}" + (f" for {owner}" if owner else "")


def expect_table(value: object, where: TomlPath, *, fix: str, owner: str = "") -> TomlTable:
    """``value`` as a table, or a SpecError saying what it is instead.

    ``owner`` (``"framework 'x'"``), when given, names the layer the value belongs to.
    """
    if not isinstance(value, Mapping):
        raise spec_error(where, f"expected a table, {_got(value, owner)}", fix)
    return value


def expect_table_array(value: object, where: TomlPath, *, fix: str) -> tuple[TomlTable, ...]:
    """``value`` as an array of tables (``[[...]]``), checking every item."""
    if not isinstance(value, list):
        raise spec_error(
            where, f"expected an array of tables, got {kind_of(value)} {show(value)}", fix
        )
    return tuple(expect_table(item, where.item(i), fix=fix) for i, item in enumerate(value))


def expect_str(
    value: object, where: TomlPath, *, fix: str, allow_empty: bool = False, owner: str = ""
) -> str:
    """``value`` as a string (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise spec_error(where, f"expected a string, {_got(value, owner)}", fix)
    if not allow_empty and not value.strip():
        of = f" for {owner}" if owner else ""
        raise spec_error(where, f"must not be empty (got {value!r}{of})", fix)
    return value


def expect_bool(value: object, where: TomlPath, *, fix: str, owner: str = "") -> bool:
    """``value`` as a boolean (``true``/``false``, not a string or a number)."""
    if not isinstance(value, bool):
        raise spec_error(where, f"expected a boolean (true or false), {_got(value, owner)}", fix)
    return value


def expect_str_list(
    value: object, where: TomlPath, *, fix: str, owner: str = ""
) -> tuple[str, ...]:
    """``value`` as an array of non-empty strings."""
    if not isinstance(value, list):
        raise spec_error(where, f"expected an array of strings, {_got(value, owner)}", fix)
    return tuple(
        expect_str(item, where.item(i), fix=fix, owner=owner) for i, item in enumerate(value)
    )


def expect_str_map(value: object, where: TomlPath, *, fix: str, owner: str = "") -> dict[str, str]:
    """``value`` as a table whose values are non-empty strings."""
    table = expect_table(value, where, fix=fix, owner=owner)
    return {
        key: expect_str(item, where.key(key), fix=fix, owner=owner) for key, item in table.items()
    }


def resolve_path(root: Path, value: str) -> Path:
    """``value`` (``~`` expanded) made absolute against ``root``, with ``..`` folded."""
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else root / path))
