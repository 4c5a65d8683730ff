"""The one reader of JSON that comes from outside: bounded in size and nesting depth.

Every JSON document envstacks did not just write itself (manifests, snippets, file indexes,
delta recipes, deployment records, layer configs, merge inputs, registry documents, credential
files and helper answers) is read here, so a hostile or damaged one gives an error naming the
file, the bound and the fix, never a ``RecursionError`` or a memory blow-up:

* the size is checked before parsing (``max_bytes``; a file is never read past it);
* the nesting depth is checked before parsing, in a few C-speed passes over the text (strings
  removed, then the innermost ``[]`` and ``{}`` pairs removed once per level), so no nested
  document ever reaches the recursive parser and a multi-MB file index costs milliseconds;
* the text must be UTF-8 (a byte order mark is passed over).

Callers choose the error class (a deploy raises :class:`DeployError`, a delta its own) and the
hint; the default is :class:`JSONDocumentError`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from envstacks.floor.errors import EnvStacksError, JSONDocumentError

__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "check", "loads", "read_file"]

#: Deepest nesting accepted. envstacks' own documents nest at most 5 levels (a manifest's
#: layer entry's delta's hashes); registry documents and Docker configs fewer than 10.
MAX_DEPTH = 64
#: Default size bound (manifests, records, configs: kilobytes; file indexes pass their own).
DEFAULT_MAX_BYTES = 64 << 20
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
#: Every byte but brackets and quotes (deleted by ``bytes.translate``, at memory speed).
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_STRING = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")
_HINT = "the file is damaged or was not written by envstacks (or the tool it names)"


def loads(
    data: bytes | str,
    *,
    where: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[EnvStacksError] = JSONDocumentError,
    hint: str | None = None,
) -> Any:
    """Parse a JSON document after checking its size and nesting depth.

    Args:
        data: the document (bytes are decoded as UTF-8).
        where: what it is, for messages (a path, a URL, ``registry x: manifest y``).
        max_bytes: the largest document accepted.
        max_depth: the deepest nesting of arrays and objects accepted.
        error: the class of the error raised.
        hint: the fix (default: "damaged or not written by envstacks").

    Raises:
        EnvStacksError: (``error``) too large, nested too deeply, not UTF-8 or not JSON.
    """
    text = check(
        data, where=where, max_bytes=max_bytes, max_depth=max_depth, error=error, hint=hint
    )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{where}: not valid JSON ({_short(exc)})", hint=hint or _HINT) from None


def check(
    data: bytes | str,
    *,
    where: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[EnvStacksError] = JSONDocumentError,
    hint: str | None = None,
) -> str:
    """The document as text, once its size, nesting depth and encoding are checked.

    For readers that parse it themselves, item by item (a delta recipe); :func:`loads` is
    this, then ``json.loads``.

    Raises:
        EnvStacksError: (``error``) too large, nested too deeply or not UTF-8.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise error(
            f"{where}: larger than the {max_bytes} bytes accepted ({len(raw)} bytes)",
            hint=hint or _HINT,
        )
    problem = _depth_problem(raw, max_depth)
    if problem is not None:
        raise error(f"{where}: {problem}", hint=hint or _HINT)
    if isinstance(data, str):
        return data
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text ({_short(exc)})", hint=hint or _HINT) from None


def read_file(
    path: Path,
    *,
    where: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[EnvStacksError] = JSONDocumentError,
    hint: str | None = None,
) -> Any:
    """Read and parse a JSON file with :func:`loads`' bounds (never more than ``max_bytes``).

    Raises:
        FileNotFoundError: it does not exist (callers often treat that as "none yet").
        EnvStacksError: (``error``) it cannot be read, or :func:`loads` refuses it.
    """
    shown = where or str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc})", hint=hint) from exc
    return loads(
        data, where=shown, max_bytes=max_bytes, max_depth=max_depth, error=error, hint=hint
    )


def _depth_problem(raw: bytes, max_depth: int) -> str | None:
    """Why ``raw`` cannot be parsed safely (``None``: at most ``max_depth`` levels deep).

    Escapes (a backslash and the byte after it) are removed first, then every byte but
    brackets and quotes, then the strings (brackets inside them do not count); each pass of
    removing innermost pairs takes one level off, so a document of depth ``d`` is empty after
    ``d`` passes. Brackets that stop shrinking do not match: not JSON.
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return None
    unescaped = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw
    # Adjacent quotes go first (C speed): an empty string, or the end of one string and the
    # start of the next, which only merges two strings that are removed anyway.
    structure = unescaped.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = _STRING.sub(b"", structure) if b'"' in structure else structure
    for _ in range(max_depth):
        if not brackets:
            return None
        shorter = _INNERMOST.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return "not valid JSON (its brackets do not match)"
        brackets = shorter
    return None if not brackets else _too_deep(max_depth)


def _too_deep(max_depth: int) -> str:
    return f"nested more than {max_depth} levels deep (envstacks reads no such document)"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."
