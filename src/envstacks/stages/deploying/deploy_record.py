"""The deployment record of a target folder (``__venvstacks__/deployed.json``).

Each layer's record says which archive (sha256, tree hash) it came from and whether it is
``installed`` or was being ``installing`` when the record was written. An ``installing`` record
also keeps the record of the version being replaced (``previous``) and the exact folder that
version is moved aside to (``aside``), so recovery (:mod:`envstacks.stages.deploying.placement`)
puts back that folder and nothing else.

Names read from the record become paths, so they are checked before any path is built: a
layer's name must be a plain direct-child name of the target (the manifest's rule for
``install_target``), an aside folder's a temporary name (:func:`envstacks.floor.fs.temporary_name`)
of that layer. A record that breaks these rules is refused as damaged.

Records written before ``aside`` existed load too: their ``installing`` records name no aside
folder, and recovery looks for the one name those versions used (:func:`legacy_aside`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envstacks.floor import bounded_json
from envstacks.floor.errors import DeployError
from envstacks.floor.fs import TEMP_PREFIX, write_json
from envstacks.published.manifest import is_plain_name
from envstacks.published.publish_folder import METADATA_DIR

STATE_FILE = "deployed.json"
#: The deploy lock file, relative to the target (:mod:`envstacks.floor.folderlock`): always there
#: once a deploy ran, and meaningless unless a running deploy holds its OS lock.
LOCK_PATH = f"{METADATA_DIR}/deploy.lock"
#: How envstacks before the ``aside`` field named a moved-aside version: ``<this><8 hex>.<name>``.
LEGACY_ASIDE_PREFIX = ".envstacks-old."
_STATE_VERSION = 1
#: The fields every stored record has (``previous`` and ``aside`` only when set).
_ALWAYS_STORED = ("layer_name", "archive_name", "archive_sha256", "tree_sha256", "state", "path")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployedLayer:
    """The record of one layer in a deployment folder."""

    install_target: str
    layer_name: str
    archive_name: str
    archive_sha256: str
    tree_sha256: str | None = None
    state: Literal["installed", "installing"] = "installed"
    #: The layer's absolute folder when its postinstall ran (a move means running it again).
    path: str | None = None
    #: While ``installing``: the record of the version being replaced, if any.
    previous: DeployedLayer | None = None
    #: While ``installing`` with a ``previous``: the folder (a direct child of the target) that
    #: version is moved aside to until the new one is configured.
    aside: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        data: dict[str, Any] = {key: getattr(self, key) for key in _ALWAYS_STORED}
        if self.previous is not None:
            data["previous"] = self.previous.to_json()
        if self.aside is not None:
            data["aside"] = self.aside
        return data

    @classmethod
    def from_json(cls, install_target: str, data: Mapping[str, Any]) -> DeployedLayer:
        """Read a stored record.

        Raises:
            ValueError: a name in it is not a plain direct-child name of the target.
        """
        if not is_plain_name(install_target):
            raise ValueError(f"layer {install_target!r} is not a plain folder name")
        aside = data.get("aside")
        if aside is not None and not is_aside_name(aside, install_target):
            raise ValueError(
                f"layer {install_target!r}: aside {aside!r} is not a temporary name of it"
            )
        previous = data.get("previous")
        return cls(
            install_target=install_target,
            layer_name=str(data["layer_name"]),
            archive_name=str(data["archive_name"]),
            archive_sha256=str(data["archive_sha256"]),
            tree_sha256=data.get("tree_sha256"),
            state="installing" if data.get("state") == "installing" else "installed",
            path=data.get("path") if isinstance(data.get("path"), str) else None,
            previous=cls.from_json(install_target, previous)
            if isinstance(previous, Mapping)
            else None,
            aside=aside,
        )


def is_aside_name(name: object, install_target: str) -> bool:
    """Whether ``name`` is a temporary sibling name of the layer ``install_target``."""
    return (
        isinstance(name, str)
        and name.startswith(TEMP_PREFIX)
        and name.endswith(f".{install_target}")
        and is_plain_name(name.removeprefix(TEMP_PREFIX))
    )


def state_path(target: Path) -> Path:
    """``<target>/__venvstacks__/deployed.json``."""
    return target / METADATA_DIR / STATE_FILE


def load_state(target: Path) -> dict[str, DeployedLayer]:
    """The records of a deployment folder (empty for a new one).

    Raises:
        DeployError: the file exists but cannot be read, or names something that is not a
            plain direct child of ``target`` (it is damaged; nothing is done with it).
    """
    path = state_path(target)
    if not path.exists():
        return {}
    try:
        data = bounded_json.read_file(path, error=DeployError)
        return {
            name: DeployedLayer.from_json(name, record) for name, record in data["layers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DeployError) as exc:
        raise DeployError(
            f"{path}: the deployment record is damaged ({exc}); nothing was changed",
            hint="deploy into a new folder, or move this folder's layers away and delete the file",
        ) from exc


def save_state(
    target: Path,
    records: Mapping[str, DeployedLayer],
    variants: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write the records atomically (and the variant chosen per framework, if any).

    With neither, the record is removed: a folder whose every layer was undone is bare again.
    """
    if not records and not variants:
        state_path(target).unlink(missing_ok=True)
        return
    data: dict[str, Any] = {
        "version": _STATE_VERSION,
        "layers": {name: records[name].to_json() for name in sorted(records)},
    }
    if variants:
        data["variants"] = {name: dict(variants[name]) for name in sorted(variants)}
    write_json(state_path(target), data)


def load_variants(target: Path) -> dict[str, dict[str, str]]:
    """The variant chosen per framework, as the record keeps it (empty: none recorded)."""
    path = state_path(target)
    if not path.exists():
        return {}
    try:
        data = bounded_json.read_file(path, error=DeployError).get("variants", {})
        return {
            str(name): {str(k): str(v) for k, v in entry.items()} for name, entry in data.items()
        }
    except (OSError, ValueError, TypeError, AttributeError, DeployError):
        return {}  # load_state reports a damaged record


class Deployment:
    """The records of one deployment folder, written to disk on every change."""

    def __init__(
        self,
        target: Path,
        records: Mapping[str, DeployedLayer],
        variants: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.target = target
        self._records = dict(records)
        self._variants = {name: dict(entry) for name, entry in (variants or {}).items()}

    @classmethod
    def load(cls, target: Path) -> Deployment:
        """The records stored in ``target`` (see :func:`load_state`)."""
        return cls(target, load_state(target), load_variants(target))

    def variant(self, framework: str) -> Mapping[str, str] | None:
        """The recorded choice for a framework with variants (``install_target``, ``reason``...)."""
        return self._variants.get(framework)

    def put_variant(self, framework: str, entry: Mapping[str, str]) -> None:
        """Record the variant chosen for ``framework`` and save."""
        self._variants[framework] = dict(entry)
        save_state(self.target, self._records, self._variants)

    @property
    def records(self) -> Mapping[str, DeployedLayer]:
        """The records by install target (a copy)."""
        return dict(self._records)

    def get(self, install_target: str) -> DeployedLayer | None:
        """The record of a layer, if it has one."""
        return self._records.get(install_target)

    def put(self, record: DeployedLayer) -> None:
        """Record a layer (replacing its record) and save."""
        self._records[record.install_target] = record
        save_state(self.target, self._records, self._variants)

    def drop(self, install_target: str) -> None:
        """Forget a layer and save."""
        if self._records.pop(install_target, None) is not None:
            save_state(self.target, self._records, self._variants)


def legacy_aside(target: Path, install_target: str) -> str | None:
    """The folder envstacks before the ``aside`` field moved a replaced layer to, if present.

    Only the exact name those versions gave (``.envstacks-old.<8 hex>.<install_target>``) counts.

    Raises:
        DeployError: there are several, so which one to restore cannot be told.
    """
    pattern = re.compile(
        re.escape(LEGACY_ASIDE_PREFIX) + r"[0-9a-f]{8}\." + re.escape(install_target)
    )
    found = sorted(entry.name for entry in target.iterdir() if pattern.fullmatch(entry.name))
    if len(found) > 1:
        raise DeployError(
            f"{target}: layer {install_target!r} was left half-deployed and several earlier "
            f"copies of it were moved aside ({', '.join(found)}); cannot tell which to restore",
            hint=f"move the right one to {target / install_target}, delete the others, "
            "and deploy again",
        )
    return found[0] if found else None
