"""Ask an interpreter what it is (version, prefix, layout) and judge it as a runtime source."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import EnvStacksError, ToolError
from envstacks.floor.report import Reporter

#: Run with ``-I -S -B``: no user site, no site-packages, no environment variables (so a
#: machine's ``.pth`` files cannot break or slow the probe), and no ``__pycache__`` written
#: into the installation (a runtime layer ships without one).
_PROBE = """
import json, sys, sysconfig
cv = sysconfig.get_config_var
scheme = getattr(sysconfig, "get_default_scheme", None) or sysconfig._get_default_scheme
print(json.dumps({
    "executable": sys.executable,
    "implementation": sys.implementation.name,
    "version": list(sys.version_info),
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "scheme": scheme(),
    "paths": sysconfig.get_paths(),
    "platlibdir": getattr(sys, "platlibdir", "lib"),
    "abiflags": getattr(sys, "abiflags", ""),
    "shared": bool(cv("Py_ENABLE_SHARED")),
    "ldlibrary": cv("LDLIBRARY") or "",
    "instsoname": cv("INSTSONAME") or "",
    "libdir": cv("LIBDIR") or "",
    "gil_disabled": bool(cv("Py_GIL_DISABLED")),
}))
"""

_PRE_RELEASE = {"alpha": "a", "beta": "b", "candidate": "rc"}


@dataclass(frozen=True, slots=True, kw_only=True)
class InterpreterInfo:
    """What a probed interpreter said about itself."""

    #: The interpreter that was run (symlinks resolved).
    executable: Path
    implementation: str
    #: ``(major, minor, micro)``.
    version: tuple[int, int, int]
    #: ``"final"``, ``"candidate"``...
    releaselevel: str
    #: The pre-release number (``1`` in ``3.13.0rc1``).
    serial: int = 0
    prefix: Path
    base_prefix: Path
    #: ``sysconfig.get_default_scheme()``.
    scheme: str
    #: ``sysconfig.get_paths()``.
    paths: Mapping[str, str]
    platlibdir: str
    abiflags: str
    shared: bool
    ldlibrary: str
    #: The shared library's file name with its version (``libpython3.12.so.1.0``).
    instsoname: str
    #: Where the build put libpython (build-time information; copies keep the old value).
    libdir: str
    gil_disabled: bool

    @property
    def full_version(self) -> str:
        """The version as ``platform.python_version()`` writes it (``3.12.1``, ``3.13.0rc1``)."""
        text = ".".join(map(str, self.version))
        if self.releaselevel == "final":
            return text
        return f"{text}{_PRE_RELEASE.get(self.releaselevel, self.releaselevel)}{self.serial}"

    @property
    def feature_version(self) -> str:
        """``X.Y``."""
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def stdlib_name(self) -> str:
        """The stdlib folder's name under ``lib/`` (``python3.12``, ``python3.13t``)."""
        return Path(self.paths.get("stdlib", f"python{self.feature_version}")).name


def probe(python: Path, *, reporter: Reporter, timeout: float = 30) -> InterpreterInfo:
    """Run ``python`` and return what it says about itself.

    Raises:
        ToolError: it does not run or does not answer like a CPython/PyPy.
    """
    try:
        result = proc.run(
            [python, "-I", "-S", "-B", "-c", _PROBE],
            reporter=reporter,
            what=f"ask {python} about itself",
            timeout=timeout,
        )
    except OSError as exc:  # not an executable for this machine (ENOEXEC, EACCES...)
        raise ToolError(f"cannot run {python}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
        version = data["version"]
        return InterpreterInfo(
            executable=Path(os.path.realpath(python)),
            implementation=str(data["implementation"]),
            version=(int(version[0]), int(version[1]), int(version[2])),
            releaselevel=str(version[3]),
            serial=int(version[4]),
            prefix=Path(data["prefix"]),
            base_prefix=Path(data["base_prefix"]),
            scheme=str(data["scheme"]),
            paths={str(key): str(value) for key, value in data["paths"].items()},
            platlibdir=str(data["platlibdir"]),
            abiflags=str(data["abiflags"]),
            shared=bool(data["shared"]),
            ldlibrary=str(data["ldlibrary"]),
            instsoname=str(data["instsoname"]),
            libdir=str(data["libdir"]),
            gil_disabled=bool(data["gil_disabled"]),
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ToolError(f"{python} did not answer like a Python interpreter: {exc}") from exc


def probe_or_reason(python: Path, *, reporter: Reporter) -> InterpreterInfo | str:
    """:func:`probe`, but a failure becomes a one-line reason for the search log."""
    try:
        return probe(python, reporter=reporter)
    except EnvStacksError as exc:
        lines = [line.strip() for line in exc.message.splitlines() if line.strip()]
        # The first line says what failed, the last one (the tool's own error) why.
        return lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 2 else "")


def layout_problem(info: InterpreterInfo) -> str | None:
    """Why a copy of this installation could not work as a runtime layer, or None if it can.

    A copy reproduces the standard ``<prefix>/{bin,lib/pythonX.Y,include}`` layout only;
    distribution-patched Pythons (Debian's ``posix_local`` scheme and ``dist-packages``,
    Fedora's ``lib64``), virtual environments and free-threaded builds are refused.
    """
    prefix = info.prefix
    if os.path.realpath(info.prefix) != os.path.realpath(info.base_prefix):
        return f"a virtual environment (its base installation is {info.base_prefix})"
    if info.gil_disabled:
        return "a free-threaded build, which envstacks does not support as a runtime layer"
    if os.name == "nt":
        return None
    stdlib = prefix / "lib" / info.stdlib_name
    purelib = info.paths.get("purelib", "")
    if info.scheme != "posix_prefix" or info.platlibdir != "lib":
        return (
            f"a distribution-patched layout (sysconfig scheme {info.scheme!r}, platlibdir "
            f"{info.platlibdir!r}, site-packages {purelib}) that a copy cannot reproduce"
        )
    expected = {"stdlib": stdlib, "platstdlib": stdlib, "purelib": stdlib / "site-packages"}
    for key, path in expected.items():
        if Path(info.paths.get(key, "")) != path:
            return f"an unexpected sysconfig layout ({key} is {info.paths.get(key)}, not {path})"
    if Path(os.path.realpath(prefix / "bin")) not in info.executable.parents:
        return f"its interpreter {info.executable} lies outside its prefix {prefix}"
    lib = prefix / "lib"
    if info.shared and not any(
        (lib / name).exists() for name in (info.instsoname, info.ldlibrary) if name
    ):
        return f"its shared libpython ({info.ldlibrary}) is not in {lib} (it is in {info.libdir})"
    return None
