"""Check layer names: non-empty, safe as one folder name on every platform, no reserved prefix."""

from __future__ import annotations

from envstacks.spec.model import LayerKind
from envstacks.spec.validate_fields import TomlPath, expect_str, spec_error

#: Characters Windows refuses in file names (layers are deployed there too).
_WINDOWS_RESERVED = frozenset('<>:"|?*')
_RESERVED_PREFIXES = tuple(kind.prefix for kind in LayerKind if kind.prefix)


def check_layer_name(value: object, where: TomlPath, kind: LayerKind) -> str:
    """The layer name at ``where``, or a SpecError saying why it cannot name a layer folder."""
    fix = 'use letters, digits, "-", "_", "." and "@", such as "cpython-3.12" or "my-app"'
    name = expect_str(value, where, fix=fix, allow_empty=True)
    problem = _name_problem(name)
    if problem:
        raise spec_error(where, f"{kind.value} name {name!r} {problem}", fix)
    if kind is LayerKind.RUNTIME:
        for prefix in _RESERVED_PREFIXES:
            if name.lower().startswith(prefix):
                raise spec_error(
                    where,
                    f"runtime name {name!r} starts with the reserved prefix {prefix!r}, so its "
                    "build name would look like (or clash with) the build name of "
                    f"{'a framework' if prefix == 'framework-' else 'an application'}",
                    'rename the runtime, for instance after its Python version ("cpython-3.12")',
                )
    return name


def _name_problem(name: str) -> str:
    if not name:
        return "is empty"
    if name != name.strip():
        return "starts or ends with whitespace"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\'); a layer name must be a single folder name"
    if name.startswith("."):
        return "starts with '.' (hidden, or '..' which leaves the folder)"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "contains a control character"
    bad = sorted(_WINDOWS_RESERVED.intersection(name))
    if bad:
        return f"contains {', '.join(repr(c) for c in bad)}, not allowed in Windows folder names"
    if name.endswith("."):
        return "ends with '.', which Windows drops from folder names"
    return ""
