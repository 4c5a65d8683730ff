"""Path-aware readers of raw TOML values, and the helpers every spec error is made with.

The loader never trusts a raw TOML value: it goes through these readers, so a wrong type, an
unknown key or an empty string always produces the same kind of message,
``<toml path>: <what is wrong> (<the bad value>)`` and the hint ``<how to fix it>``.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import InvalidName, canonicalize_name

from envstacks.floor.errors import SpecError
from envstacks.floor.suggest import did_you_mean

if TYPE_CHECKING:
    from envstacks.stages.stackspec.keys import KeyInfo

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


def quoted_list(names: Iterable[str]) -> str:
    """Names as ``'a', 'b'`` for messages, or ``none`` when there are none."""
    items = [repr(name) for name in names]
    return ", ".join(items) if items else "none"


def spec_error(where: TomlPath | str, problem: str, fix: str) -> SpecError:
    """The error for ``where``: ``<where>: <problem>``, with ``fix`` as its hint (raise it)."""
    path = where.text if isinstance(where, TomlPath) else where
    return SpecError(f"{where}: {problem}", hint=fix, toml_path=path)


def unknown_keys(table: TomlTable, known: Iterable[str]) -> tuple[str, ...]:
    """The keys of ``table`` that are not in ``known``, in table order."""
    allowed = frozenset(known)
    return tuple(key for key in table if key not in allowed)


def check_keys(
    table: TomlTable, allowed: Iterable[str], where: TomlPath, *, what: str, fix: str
) -> None:
    """Fail on the first key of ``table`` that is not in ``allowed``.

    ``what`` names the table in the message (``"key of framework 'sklearn'"``); ``fix`` is
    the general advice given after the "did you mean" suggestion.
    """
    known = tuple(allowed)
    unknown = unknown_keys(table, known)
    if unknown:
        key = unknown[0]
        raise spec_error(where.key(key), f"unknown {what} {key!r}{did_you_mean(key, known)}", fix)


def _got(value: object, owner: str) -> str:
    return f"got {kind_of(value)} {show(value)}" + (f" for {owner}" if owner else "")


def expect_table(value: object, where: TomlPath, *, fix: str, owner: str = "") -> TomlTable:
    """``value`` as a table, or a SpecError saying what it is instead.

    ``owner`` (``"framework 'x'"``), when given, names the layer the value belongs to.
    """
    if not isinstance(value, Mapping):
        raise spec_error(where, f"expected a table, {_got(value, owner)}", fix)
    return value


def expect_array(
    value: object, where: TomlPath, *, of: str, fix: str, owner: str = ""
) -> list[Any]:
    """``value`` as an array (``of`` names what it should hold: ``"strings"``, ``"tables"``)."""
    if not isinstance(value, list):
        raise spec_error(where, f"expected an array of {of}, {_got(value, owner)}", fix)
    return value


def expect_table_array(value: object, where: TomlPath, *, fix: str) -> tuple[TomlTable, ...]:
    """``value`` as an array of tables (``[[...]]``), checking every item."""
    items = expect_array(value, where, of="tables", fix=fix)
    return tuple(expect_table(item, where.item(i), fix=fix) for i, item in enumerate(items))


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
    items = expect_array(value, where, of="strings", fix=fix, owner=owner)
    return tuple(
        expect_str(item, where.item(i), fix=fix, owner=owner) for i, item in enumerate(items)
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


def normalize_dist(name: str, where: TomlPath) -> str:
    """The PEP 503 normalised form of a distribution name, or a SpecError if it is not one."""
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise spec_error(
            where,
            f"{name!r} is not a valid distribution name",
            "use the name the package is published under (letters, digits, '-', '_', '.')",
        ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TableView:
    """A raw table with its path, accepted keys and owner, read key by key.

    Each value is checked at its own TOML path, with the key's "write it like ..." fix and
    the owner (``"framework 'x'"``) named in the message; absent keys read as empty.
    """

    data: TomlTable
    where: TomlPath
    keys: Mapping[str, KeyInfo]
    owner: str = ""

    def at(self, key: str) -> TomlPath:
        """The TOML path of ``key``."""
        return self.where.key(key)

    def fix(self, key: str) -> str:
        """The generic advice for ``key``."""
        return self.keys[key].fix()

    def one_of(
        self, first: str, second: str, *, both: tuple[str, str], neither: tuple[str, str]
    ) -> str:
        """Which of two exclusive keys the table sets (exactly one must be set).

        ``both`` and ``neither`` are the ``(problem, fix)`` of the errors otherwise.
        """
        has_first = first in self.data
        has_second = second in self.data
        if has_first and has_second:
            raise spec_error(self.where, *both)
        if not has_first and not has_second:
            raise spec_error(self.where, *neither)
        return first if has_first else second

    def string(self, key: str, *, owned: bool = True) -> str:
        """The non-empty string ``key`` (which must be present)."""
        owner = self.owner if owned else ""
        return expect_str(self.data[key], self.at(key), fix=self.fix(key), owner=owner)

    def strings(self, key: str, *, owned: bool = True) -> tuple[str, ...]:
        """The array of non-empty strings ``key`` (empty when absent)."""
        owner = self.owner if owned else ""
        value = self.data.get(key, [])
        return expect_str_list(value, self.at(key), fix=self.fix(key), owner=owner)

    def string_map(self, key: str) -> dict[str, str]:
        """The table of non-empty strings ``key`` (empty when absent)."""
        value = self.data.get(key, {})
        return expect_str_map(value, self.at(key), fix=self.fix(key), owner=self.owner)

    def flag(self, key: str) -> bool:
        """The boolean ``key`` (false when absent)."""
        value = self.data.get(key, False)
        return expect_bool(value, self.at(key), fix=self.fix(key), owner=self.owner)
