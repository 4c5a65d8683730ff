"""A layer's ``postinstall_script``: an existing ``.py`` file, on a framework or application only.

The script is the layer's own post-install step (copied into the layer by the build, run by
deploy and local-export). Its key is an envstacks extension that ``venvstacks.toml`` accepts
too, like ``precompile`` and ``scripts``.
"""

from __future__ import annotations

from pathlib import Path

from envstacks.floor.layer_kinds import LayerKind
from envstacks.stages.stackspec.fields import TableView, TomlPath, resolve_path, spec_error

__all__ = ["KEY", "parse_postinstall_script", "refuse_on_runtime"]

KEY = "postinstall_script"


def refuse_on_runtime(data: object, kind: LayerKind, where: TomlPath) -> None:
    """A runtime layer naming ``postinstall_script`` is told why it cannot.

    (Other unknown keys get the generic unknown-key error later.)
    """
    if kind is LayerKind.RUNTIME and isinstance(data, dict) and KEY in data:
        raise spec_error(
            where.key(KEY),
            f"runtime layer key {KEY!r} is for frameworks and applications only (runtime "
            f"{data.get('name', '?')!r} runs no code of the stack's own when it is deployed)",
            "move the script to a framework or application layer built on this runtime",
        )


def parse_postinstall_script(layer: TableView, root: Path) -> Path | None:
    """The script's absolute path (``None`` without the key), checked to be a ``.py`` file.

    Raises:
        SpecError: not a string, missing, not a file, or not a ``.py`` file.
    """
    if KEY not in layer.data:
        return None
    where = layer.at(KEY)
    path = resolve_path(root, layer.string(KEY, owned=False))
    fix = f"point postinstall_script at a .py file (relative to {root})"
    if not path.exists():
        raise spec_error(
            where, f"postinstall_script of {layer.owner} does not exist ({str(path)!r})", fix
        )
    if not path.is_file():
        raise spec_error(
            where, f"postinstall_script of {layer.owner} is not a file ({str(path)!r})", fix
        )
    if path.suffix != ".py":
        raise spec_error(
            where, f"postinstall_script of {layer.owner} is not a .py file ({str(path)!r})", fix
        )
    return path
