"""Adopt an interpreter into a runtime layer: judge it, copy it, make it relocatable, prove it runs.

This is the tail every built-in provider shares once it has found an interpreter:
:func:`judge` probes it and judges it against the request (implementation, version,
layout); :class:`AdoptingProvider` copies its installation (:mod:`._copy`), makes the copy
independent of its source (:mod:`.relocate`, and :mod:`._elf` on Linux), checks that the
copy runs from its own folder, and only then renames it into place: a failure never leaves
a half-made runtime at the destination.
"""

from __future__ import annotations

import abc
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import RuntimeProvisionError
from envstacks.floor.fs import temporary_name
from envstacks.floor.report import Reporter
from envstacks.stages.runtime import _copy, _elf, relocate
from envstacks.stages.runtime.contract import ProvidedRuntime, RuntimeRequest
from envstacks.stages.runtime.probe import InterpreterInfo, layout_problem, probe_or_reason

__all__ = ["SHARED_PREFIXES", "AdoptingProvider", "Found", "copy_installation", "judge"]

#: Prefixes shared with other software: only the Python pieces are copied from them.
SHARED_PREFIXES = frozenset({"/", "/usr", "/usr/local", "/opt/local"})

#: Prints the prefix the copy computes for itself and the libpython it actually loaded. A
#: ``/proc/self/maps`` line is ``address perms offset dev inode path``; the path is all that
#: follows the fifth field, spaces included.
_SELF_CHECK = """
import sys
maps = []
try:
    with open("/proc/self/maps") as f:
        fields = [l.rstrip("\\n").split(None, 5) for l in f if "libpython" in l]
    maps = sorted({f[5] for f in fields if len(f) == 6 and f[5].startswith("/")})
except OSError:
    pass
print(sys.prefix)
print("\\n".join(maps))
"""


def judge(
    python: Path, request: RuntimeRequest, *, provider: str, reporter: Reporter
) -> InterpreterInfo | None:
    """Probe ``python``; log why and return None unless it can serve ``request``.

    It must run, be the requested implementation and version, and have a layout a copy can
    reproduce (:func:`~envstacks.stages.runtime.probe.layout_problem`).
    """
    info = probe_or_reason(python, reporter=reporter)
    if isinstance(info, str):
        request.log(provider, f"{python}: does not run: {info}")
        return None
    if info.implementation != request.implementation:
        request.log(provider, f"{python}: {info.implementation}, not {request.implementation}")
        return None
    if not request.version.matches(info):
        request.log(provider, f"{python}: Python {info.full_version}, not {request.version}")
        return None
    problem = layout_problem(info)
    if problem is not None:
        request.log(provider, f"{python}: Python {info.full_version} rejected: {problem}")
        return None
    request.log(provider, f"{python}: Python {info.full_version} matches")
    return info


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """An interpreter a provider found for a request, and where it came from."""

    #: The interpreter, as :func:`judge` accepted it.
    info: InterpreterInfo
    #: Where the installation came from, for the user (``ProvidedRuntime.source``).
    source: str


class AdoptingProvider(abc.ABC):
    """A runtime provider that finds an installed interpreter and adopts a copy of it.

    Subclasses (the built-in ``local`` and ``uv-managed`` providers) give a ``name`` and
    :meth:`find`; the copy, relocation and self-check are shared.
    """

    __slots__ = ()
    name: str

    @abc.abstractmethod
    def find(self, request: RuntimeRequest, reporter: Reporter) -> Found | None:
        """The interpreter to adopt for ``request``, or None after logging why there is none."""

    def provide(
        self, request: RuntimeRequest, destination: Path, reporter: Reporter
    ) -> ProvidedRuntime | None:
        """Copy the interpreter :meth:`find` chooses into ``destination``, relocatable, checked.

        Raises:
            RuntimeProvisionError: the copy does not run from its new place.
            ToolError: patchelf or strip failed.
        """
        found = self.find(request, reporter)
        if found is None:
            return None
        info, prefix = found.info, found.info.prefix
        whole = not {os.fspath(prefix), os.path.realpath(prefix)} & SHARED_PREFIXES
        reporter.debug(f"{request.layer}: adopting {info.executable} (prefix {prefix})")
        python = copy_installation(
            info, destination, layer=request.layer, whole_prefix=whole, reporter=reporter
        )
        return ProvidedRuntime(
            provider=self.name, version=info.full_version, python=python, source=found.source
        )


def copy_installation(
    info: InterpreterInfo,
    destination: Path,
    *,
    layer: str,
    whole_prefix: bool,
    reporter: Reporter,
) -> Path:
    """Copy the installation ``info`` describes into ``destination``; return its interpreter.

    Args:
        info: the probed source interpreter (its ``prefix`` is copied).
        destination: the runtime layer folder; must not exist yet.
        layer: the runtime layer's build name, for progress and messages.
        whole_prefix: copy everything under the prefix (a dedicated installation, such as a
            pyenv version or a python-build-standalone tree) rather than only the Python
            pieces (a prefix shared with other software, such as ``/usr/local``).
        reporter: receives progress and the relocation details.

    Returns:
        The interpreter, relative to ``destination`` (``bin/python3.12``).

    Raises:
        RuntimeProvisionError: the copy does not run from its new place.
        ToolError: patchelf or strip failed.
    """
    source = info.prefix
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the destination (same file system) so the final rename is atomic, under a
    # temporary name that records this process, so a later run removes it if this one dies.
    work = destination.parent / temporary_name(destination.name)
    work.mkdir(mode=0o700)
    try:
        with reporter.task(layer, "copy runtime") as task:
            task.note(f"from {source}")
            _copy.copy_tree(info, source, work, whole_prefix=whole_prefix, task=task)
        reporter.debug(f"{layer}: copied {_copy.tree_size(work) / 2**20:.1f} MiB from {source}")
        python = _copy.ensure_links(work, info)
        _make_independent(work, source, layer=layer, reporter=reporter)
        _self_check(work, python, info, reporter)
        # The folder was made private (0700); a runtime is as readable as its source.
        work.chmod(stat.S_IMODE(source.stat().st_mode) | stat.S_IRWXU)
        _move_into_place(work, destination)
        reporter.debug(f"{layer}: runtime size {_copy.tree_size(destination) / 2**20:.1f} MiB")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return python


def _make_independent(target: Path, source: Path, *, layer: str, reporter: Reporter) -> None:
    """Point the copy's links, pkg-config files and (on Linux) ELF rpaths at itself."""
    sources = tuple(dict.fromkeys((source, Path(os.path.realpath(source)))))
    relocate.relink_symlinks(target, sources, reporter=reporter)
    relocate.fix_pkgconfig(target, sources)
    if sys.platform.startswith("linux"):
        _elf.relocate_elves(target, sources, layer=layer, reporter=reporter)


def _self_check(target: Path, python: Path, info: InterpreterInfo, reporter: Reporter) -> None:
    """Run the copy: it must compute its own folder as prefix and load its own libpython."""
    result = proc.run(
        [target / python, "-I", "-S", "-B", "-c", _SELF_CHECK],
        reporter=reporter,
        what=f"run the copied interpreter {target / python}",
        error=RuntimeProvisionError,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    prefix = lines[0] if lines else ""
    real_target = os.path.realpath(target)
    if os.path.realpath(prefix) != real_target:
        raise RuntimeProvisionError(
            f"the copy of {info.prefix} at {target} computes sys.prefix = {prefix!r} instead of "
            "its own folder: the installation is not relocatable"
        )
    foreign = [
        lib for lib in lines[1:] if not os.path.realpath(lib).startswith(real_target + os.sep)
    ]
    if foreign:
        raise RuntimeProvisionError(
            f"the copy of {info.prefix} at {target} still loads {', '.join(foreign)}: its rpath "
            "was not made relative (is patchelf working?)"
        )


def _move_into_place(work: Path, destination: Path) -> None:
    try:
        work.rename(destination)
    except OSError as exc:
        raise RuntimeProvisionError(
            f"cannot move the new runtime into place at {destination}: {exc.strerror} "
            "(was it made meanwhile by another build?)",
            hint=f"remove {destination} and build again",
        ) from exc
