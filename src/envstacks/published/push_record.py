"""Which registry repositories a publish folder was pushed to: ``__venvstacks__/pushed.json``.

A push records its registry and repository here (most recent first), so that a later push of
the same folder to another repository of the same registry can mount the blobs the registry
already holds instead of uploading them (``--mount-from`` without naming them). The file
travels with the folder (a CI artifact), so what it holds is checked before use: at most
:data:`MAX_REPOSITORIES` entries, each ``registry/repository`` in the reference grammar's
characters; anything else is ignored. It only ever names where blobs may be mounted from:
a mount is by digest, so it cannot change what is pushed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import dumps_json, write_bytes
from envstacks.published.folder_manifests import load_manifest_json
from envstacks.published.publish_folder import METADATA_DIR

__all__ = ["RECORD_NAME", "pushed_repositories", "record_push"]

#: The record's file name, in the folder's ``__venvstacks__``.
RECORD_NAME = "pushed.json"
#: Repositories remembered (the most recent ones).
MAX_REPOSITORIES = 16
_LOCATION = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,255}/[a-z0-9._\-/]{1,255}")


def pushed_repositories(folder: Path) -> tuple[str, ...]:
    """``registry/repository`` of the pushes recorded in ``folder``, most recent first."""
    try:
        data = load_manifest_json(folder / METADATA_DIR / RECORD_NAME)
    except (OSError, EnvStacksError):
        return ()
    items = data.get("pushed_to") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return ()
    return tuple(
        item for item in items[:MAX_REPOSITORIES] if isinstance(item, str) and _valid(item)
    )


def record_push(folder: Path, locations: Sequence[str]) -> None:
    """Record pushes of ``folder`` to ``locations`` (``registry/repository``), most recent first.

    Raises:
        OSError: the folder cannot be written (a read-only CI artifact, say).
    """
    known = [location for location in locations if _valid(location)]
    merged = list(dict.fromkeys([*known, *pushed_repositories(folder)]))
    document = dumps_json({"pushed_to": merged[:MAX_REPOSITORIES]})
    write_bytes(folder / METADATA_DIR / RECORD_NAME, document.encode("utf-8"), durable=True)


def _valid(location: str) -> bool:
    return _LOCATION.fullmatch(location) is not None and ".." not in location
