"""Where a runtime layer's Python came from and how it was built: what the runtime's SBOM lists.

When a runtime is provisioned, :func:`record_provenance` asks its interpreter how it was built
(``platform.python_build()``, the compiler, ``sys.version``) and records that with the provider
that made it and its source, in ``<build-dir>/<runtime>.runtime-source.json``: beside the
layer's folder, not inside (the layer ships unchanged). Publish reads it into the runtime
layer's SBOM (:mod:`envstacks.stages.packing.sbom_writer`) without running anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import read_json, write_json
from envstacks.floor.report import Reporter
from envstacks.stages.runtime.contract import ProvidedRuntime
from envstacks.stages.runtime.paths import runtime_python

__all__ = ["read_provenance", "record_provenance"]

#: Suffix of the provenance record after the runtime's build folder name.
SUFFIX = ".runtime-source.json"
#: Run with ``-I -S -B``: nothing from the machine's environment or site-packages.
_BUILD_PROBE = (
    "import json, platform, sys; print(json.dumps({'implementation': sys.implementation.name, "
    "'build': ' '.join(platform.python_build()), 'compiler': platform.python_compiler(), "
    "'sys_version': sys.version}))"
)
_BUILD_FIELDS = ("implementation", "build", "compiler", "sys_version")


def provenance_path(env: Path) -> Path:
    """``<build-dir>/<runtime>.runtime-source.json`` for the runtime folder ``env``."""
    return env.with_name(env.name + SUFFIX)


def record_provenance(env: Path, provided: ProvidedRuntime, reporter: Reporter) -> Path:
    """Record which provider put the runtime at ``env``, from where, and how it was built.

    The build fields are left out (with a debug message) if the interpreter does not say.
    """
    record = {"provider": provided.provider, "source": provided.source, "version": provided.version}
    try:
        result = proc.run(
            [runtime_python(env), "-I", "-S", "-B", "-c", _BUILD_PROBE],
            reporter=reporter,
            what="ask the runtime's interpreter how it was built",
            timeout=60,
        )
        answer = json.loads(result.stdout)
        record.update({key: str(answer[key]) for key in _BUILD_FIELDS})
    except (EnvStacksError, ValueError, KeyError, TypeError) as exc:
        reporter.debug(f"{env.name}: its interpreter did not say how it was built ({exc})")
    path = provenance_path(env)
    write_json(path, record, durable=False)
    return path


def read_provenance(env: Path) -> dict[str, str]:
    """What was recorded when the runtime at ``env`` was provisioned (empty: nothing was).

    Keys: ``provider``, ``source``, ``version`` and, when the interpreter said,
    ``implementation``, ``build``, ``compiler``, ``sys_version``.
    """
    data = read_json(provenance_path(env)) or {}
    return {key: value for key, value in data.items() if isinstance(value, str)}
