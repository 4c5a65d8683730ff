"""Where a runtime layer's Python came from, and how it was built: what the runtime's SBOM lists.

:func:`record_provenance` writes, when a runtime is provisioned, which provider made it from
where (``<build-dir>/<runtime>.runtime-source.json``, beside the layer's folder, not inside:
the layer ships unchanged). :func:`interpreter_build` asks the runtime's interpreter for its
build (``platform.python_build()``, the compiler, ``sys.version``). Publish reads both into
the runtime layer's SBOM (:mod:`envstacks.stages.packing.sbom_writer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import EnvStacksError, PublishError
from envstacks.floor.fs import read_json, write_json
from envstacks.stages.runtime.contract import ProvidedRuntime
from envstacks.stages.runtime.paths import runtime_python

__all__ = ["InterpreterBuild", "interpreter_build", "read_provenance", "record_provenance"]

#: Suffix of the provenance record after the runtime's build folder name.
SUFFIX = ".runtime-source.json"
#: Run with ``-I -S -B``: nothing from the machine's environment or site-packages.
_BUILD_PROBE = (
    "import json, platform, sys; print(json.dumps({'implementation': sys.implementation.name, "
    "'build': ' '.join(platform.python_build()), 'compiler': platform.python_compiler(), "
    "'version': platform.python_version(), 'sys_version': sys.version}))"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class InterpreterBuild:
    """What a runtime's interpreter says about its build."""

    implementation: str
    #: ``platform.python_version()``: ``3.12.7``.
    version: str
    #: ``platform.python_build()`` joined: ``main Oct  1 2024 02:14:29``.
    build: str
    compiler: str
    sys_version: str


def provenance_path(env: Path) -> Path:
    """``<build-dir>/<runtime>.runtime-source.json`` for the runtime folder ``env``."""
    return env.with_name(env.name + SUFFIX)


def record_provenance(env: Path, provided: ProvidedRuntime) -> Path:
    """Record which provider put the runtime at ``env``, and from where."""
    path = provenance_path(env)
    write_json(
        path,
        {"provider": provided.provider, "source": provided.source, "version": provided.version},
        durable=False,
    )
    return path


def read_provenance(env: Path) -> dict[str, str]:
    """The provider, source and version recorded for ``env`` (empty: provisioned before)."""
    data = read_json(provenance_path(env)) or {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


def interpreter_build(env: Path, *, layer: str) -> InterpreterBuild:
    """Ask the runtime's interpreter in ``env`` how it was built.

    Raises:
        PublishError: it does not run, or answers something else than the probe prints.
    """
    what = f"ask the interpreter of runtime layer {layer!r} how it was built"
    result = proc.run(
        [runtime_python(env), "-I", "-S", "-B", "-c", _BUILD_PROBE],
        what=what,
        error=PublishError,
        timeout=60,
    )
    try:
        data = json.loads(result.stdout)
        return InterpreterBuild(**{key: str(data[key]) for key in _FIELDS})
    except (ValueError, KeyError, TypeError, EnvStacksError) as exc:
        raise PublishError(f"cannot {what}: unexpected answer {result.stdout[:200]!r}") from exc


_FIELDS = ("implementation", "version", "build", "compiler", "sys_version")
