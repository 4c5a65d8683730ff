"""The line of a spec file where a TOML path (``frameworks[2].runtime``) is written.

tomllib keeps no positions and tomlkit keeps none for keys, so this module scans the text of
a file tomllib has already parsed, recording the line of every table header, key and array
item under the path a spec error names (dotted keys, quoted keys, arrays of tables and their
nested arrays of tables, inline tables and arrays spanning lines included). A path that is
not written in the file (a missing key) gets the line of its nearest written parent.
Anything it cannot follow gives no line rather than a wrong one.
"""

from __future__ import annotations

import bisect
import re
import tomllib

#: One step of a TOML path: a key, or an index into an array.
Part = str | int
Path = tuple[Part, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_PATH_PART = re.compile(r'\.?(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|\[(\d+)\])')
_SCALAR_END = frozenset(",]}#\r\n")


def path_parts(text: str) -> Path | None:
    """The parts of a path as :class:`~envstacks.stages.stackspec.fields.TomlPath` writes it."""
    parts: list[Part] = []
    pos = 0
    while pos < len(text):
        match = _PATH_PART.match(text, pos)
        if match is None:
            return None
        bare, quoted, index = match.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(bare if bare is not None else re.sub(r"\\(.)", r"\1", quoted))
        pos = match.end()
    return tuple(parts)


def line_of(text: str, toml_path: str) -> int | None:
    """The 1-based line where ``toml_path`` (or its nearest written parent) is, if any."""
    parts = path_parts(toml_path)
    if not parts:
        return None
    try:
        lines = _Scanner(text).scan()
    except (IndexError, ValueError, tomllib.TOMLDecodeError):
        return None
    while parts:
        if parts in lines:
            return lines[parts]
        parts = parts[:-1]
    return None


class _Scanner:
    """Records the line of every header, key and array item of a valid TOML text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.lines: dict[Path, int] = {}
        #: How many ``[[...]]`` items each array of tables has had so far.
        self.items: dict[Path, int] = {}

    def scan(self) -> dict[Path, int]:
        table: Path = ()
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            line = self._line()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                keys = self._key()
                self._expect("]]")
                array = (*self._resolve(keys[:-1]), keys[-1])
                self.items[array] = self.items.get(array, 0) + 1
                table = (*array, self.items[array] - 1)
                self._record(table, line)
            elif self.text.startswith("[", self.pos):
                self.pos += 1
                table = self._resolve(self._key())
                self._expect("]")
                self._record(table, line)
            else:
                self._key_value(table)

    def _resolve(self, keys: tuple[str, ...]) -> Path:
        """A header's keys with the current item of each array of tables they pass through."""
        path: Path = ()
        for key in keys:
            path = (*path, key)
            if path in self.items:
                path = (*path, self.items[path] - 1)
        return path

    def _record(self, path: Path, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    def _line(self) -> int:
        return bisect.bisect_left(self.newlines, self.pos) + 1

    def _expect(self, token: str) -> None:
        self._skip(newlines=False)
        if not self.text.startswith(token, self.pos):
            raise ValueError(f"expected {token!r} at {self.pos}")
        self.pos += len(token)

    def _skip(self, *, newlines: bool) -> None:
        """Skip blanks and comments (and line ends when ``newlines``)."""
        blanks = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in blanks:
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def _key(self) -> tuple[str, ...]:
        """A dotted key: bare, ``"basic"`` or ``'literal'`` parts."""
        keys: list[str] = []
        while True:
            self._skip(newlines=False)
            char = self.text[self.pos]
            if char in "\"'":
                end = self._string_end(char)
                raw = self.text[self.pos : end]
                keys.append(tomllib.loads(f"k = {raw}")["k"])
                self.pos = end
            else:
                match = _BARE.match(self.text, self.pos)
                if match is None:
                    raise ValueError(f"no key at {self.pos}")
                keys.append(match.group())
                self.pos = match.end()
            self._skip(newlines=False)
            if not self.text.startswith(".", self.pos):
                return tuple(keys)
            self.pos += 1

    def _key_value(self, table: Path) -> None:
        line = self._line()
        path = (*table, *self._key())
        self._expect("=")
        self._record(path, line)
        self._skip(newlines=False)
        self._value(path)

    def _value(self, path: Path) -> None:
        char = self.text[self.pos]
        if char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        elif char in "\"'":
            self.pos = self._string_end(char)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in _SCALAR_END:
                self.pos += 1

    def _array(self, path: Path) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip(newlines=True)
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            self._record((*path, index), self._line())
            self._value((*path, index))
            self._skip(newlines=True)
            if self.text[self.pos] == ",":
                self.pos += 1
                index += 1
            elif self.text[self.pos] != "]":
                raise ValueError(f"expected ',' or ']' at {self.pos}")

    def _inline_table(self, path: Path) -> None:
        self.pos += 1
        while True:
            self._skip(newlines=True)
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                continue
            self._key_value(path)

    def _string_end(self, quote: str) -> int:
        """Where the string starting at the current position ends (just after it)."""
        text, pos = self.text, self.pos
        triple = quote * 3
        if text.startswith(triple, pos):
            pos += 3
            while not text.startswith(triple, pos):
                pos += 2 if quote == '"' and text[pos] == "\\" else 1
            pos += 3
            while pos < len(text) and text[pos] == quote:  # up to two quotes before the end
                pos += 1
            return pos
        pos += 1
        while text[pos] != quote:
            pos += 2 if quote == '"' and text[pos] == "\\" else 1
        return pos + 1
