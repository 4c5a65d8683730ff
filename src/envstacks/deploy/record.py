"""What is deployed in a target folder (``__venvstacks__/deployed.json``) and repair after a crash.

Each layer's record says which archive (sha256, tree hash) it came from and whether it is
``installed`` or was being ``installing`` when the record was written. Placing a layer goes:
record ``installing`` (keeping the previous record), move an older copy aside to
``.envstacks-old.<random>.<name>``, rename the unpacked folder into place, run postinstall,
record ``installed``, delete the older copy. :func:`recover` undoes whatever an interrupted
run left half-way, so every layer is again either fully placed or the previous version.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envstacks.errors import DeployError
from envstacks.fs import discard, fsync_dir, remove_stale_temporaries, write_json
from envstacks.layout import METADATA_DIR
from envstacks.report import Reporter

STATE_FILE = "deployed.json"
LOCK_FILE = "deploy.lock"
#: Prefix of a previous version moved aside while its replacement is placed.
OLD_PREFIX = ".envstacks-old."
_STATE_VERSION = 1


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

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        data: dict[str, Any] = {
            "layer_name": self.layer_name,
            "archive_name": self.archive_name,
            "archive_sha256": self.archive_sha256,
            "tree_sha256": self.tree_sha256,
            "state": self.state,
            "path": self.path,
        }
        if self.previous is not None:
            data["previous"] = self.previous.to_json()
        return data

    @classmethod
    def from_json(cls, install_target: str, data: Mapping[str, Any]) -> DeployedLayer:
        """Read a stored record."""
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
        )


def state_path(target: Path) -> Path:
    """``<target>/__venvstacks__/deployed.json``."""
    return target / METADATA_DIR / STATE_FILE


def load_state(target: Path) -> dict[str, DeployedLayer]:
    """The records of a deployment folder (empty for a new one).

    Raises:
        DeployError: the state file exists but cannot be read.
    """
    path = state_path(target)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: DeployedLayer.from_json(name, record) for name, record in data["layers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DeployError(
            f"{path}: cannot read the deployment record ({exc})",
            hint="delete the file to make deploy unpack every layer again",
        ) from exc


def save_state(target: Path, records: Mapping[str, DeployedLayer]) -> None:
    """Write the records atomically."""
    write_json(
        state_path(target),
        {
            "version": _STATE_VERSION,
            "layers": {name: records[name].to_json() for name in sorted(records)},
        },
    )


@contextlib.contextmanager
def deploy_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on the deployment folder (one deploy at a time).

    Raises:
        DeployError: another deploy holds the lock.
    """
    folder = target / METADATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / LOCK_FILE).open("a+b")
    try:
        try:
            import fcntl  # noqa: PLC0415 - POSIX only

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: no advisory locks; deploys must not overlap
            pass
        except OSError as exc:
            raise DeployError(
                f"{target}: another deploy is running in this folder",
                hint="wait for it to finish, then run deploy again",
            ) from exc
        yield
    finally:
        handle.close()


def old_name(install_target: str) -> str:
    """A fresh name to move a previous version aside to."""
    return f"{OLD_PREFIX}{secrets.token_hex(4)}.{install_target}"


def _old_copies(target: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for entry in sorted(target.iterdir()):
        if entry.name.startswith(OLD_PREFIX):
            install_target = entry.name[len(OLD_PREFIX) + 9 :]
            found.setdefault(install_target, []).append(entry)
    return found


def recover(
    target: Path, records: dict[str, DeployedLayer], reporter: Reporter
) -> dict[str, DeployedLayer]:
    """Repair what an interrupted deploy left behind; return the records that now hold.

    Unpack folders and partial files are removed; a layer caught between "installing" and
    "installed" is rolled back to its previous version (or removed if it had none).
    """
    for path in remove_stale_temporaries(target):
        reporter.debug(f"removed {path.name}, left by an interrupted deploy")
    olds = _old_copies(target)
    repaired = dict(records)
    for name, record in records.items():
        if record.state != "installing":
            continue
        final = target / name
        copies = olds.pop(name, [])
        if copies:
            discard(final)
            copies[-1].rename(final)
            for extra in copies[:-1]:
                discard(extra)
        elif record.previous is None:
            discard(final)
        if record.previous is not None and final.is_dir():
            repaired[name] = record.previous
        else:
            repaired.pop(name, None)
        reporter.warning(
            f"layer {name!r} was left half-deployed by an interrupted deploy; "
            + ("restored the previous version" if name in repaired else "removed it")
        )
    for copies in olds.values():
        for copy in copies:
            discard(copy)
    fsync_dir(target)
    if repaired != records:
        save_state(target, repaired)
    return repaired
