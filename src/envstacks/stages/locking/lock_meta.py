"""Lock metadata files (``pylock.<layer>.meta.json``) and lock times.

The file keeps venvstacks' six fields (four input/output hashes, ``lock_version``,
``locked_at``), so venvstacks and envstacks read each other's metadata. envstacks adds one
object, ``"envstacks"``, with inputs venvstacks does not record (target platforms and the uv
configuration); when it is missing (a lock written by venvstacks) those checks are skipped.
Metadata that records what is to be written already (the extra object aside, when the file has
none) is left as it is, so that relocking a venvstacks stack with nothing changed rewrites no
file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import LockError
from envstacks.floor.fs import write_json
from envstacks.stages.stackspec.model import StackSpec

#: venvstacks' four hash fields (with ``lock_version`` and ``locked_at``, its whole file).
HASH_FIELDS = ("lock_input_hash", "requirements_hash", "other_inputs_hash", "version_inputs_hash")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockMeta:
    """What the metadata file of a layer lock records."""

    lock_input_hash: str
    requirements_hash: str
    other_inputs_hash: str
    version_inputs_hash: str
    lock_version: int
    #: UTC ISO 8601 (``2025-08-27T00:00:00+00:00``).
    locked_at: str
    #: Target platforms when locked (``None``: not recorded, e.g. written by venvstacks).
    platforms: tuple[str, ...] | None = None
    #: Hash of the stack's uv configuration for the layer (``None``: not recorded).
    uv_inputs_hash: str | None = None

    @property
    def locked_time(self) -> datetime:
        """``locked_at`` as an aware datetime."""
        return parse_time(self.locked_at)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, as written to the file."""
        data: dict[str, Any] = {name: getattr(self, name) for name in HASH_FIELDS}
        data.update(lock_version=self.lock_version, locked_at=self.locked_at)
        extra: dict[str, Any] = {}
        if self.platforms is not None:
            extra["platforms"] = list(self.platforms)
        if self.uv_inputs_hash is not None:
            extra["uv_inputs_hash"] = self.uv_inputs_hash
        if extra:
            data["envstacks"] = extra
        return data


def format_time(moment: datetime) -> str:
    """An aware datetime as venvstacks writes it: UTC, ISO 8601, microseconds kept if any."""
    return moment.astimezone(UTC).isoformat()


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; a time without a zone is taken as local time (as uv does)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.astimezone()


def exclude_newer(spec: StackSpec, environ: Mapping[str, str] | None = None) -> datetime | None:
    """The absolute ``exclude-newer`` cut-off: ``UV_EXCLUDE_NEWER`` first, then the uv settings.

    A date means midnight local time. A relative value such as ``"1 week"`` has no fixed
    time, so it gives ``None`` (no clamping, no staleness by time).
    """
    env = os.environ if environ is None else environ
    value: Any = env.get("UV_EXCLUDE_NEWER") or spec.uv.settings.get("exclude-newer")
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.astimezone()
    if isinstance(value, date):
        return datetime.combine(value, time()).astimezone()
    text = str(value).strip()
    try:
        return parse_time(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None


def source_date_epoch(environ: Mapping[str, str] | None = None) -> datetime | None:
    """``SOURCE_DATE_EPOCH`` as an aware UTC time (``None`` when unset or empty).

    The reproducible-builds convention other build tools (hatchling, pip, setuptools)
    follow: when set, it replaces "now" in whatever a build records.

    Raises:
        LockError: the value is not a whole number of seconds since 1970.
    """
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise LockError(
            f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970-01-01",
            hint="set it to an integer, such as the time of the last commit "
            "(`git log -1 --format=%ct`), or unset it",
        ) from exc


def lock_time(moment: datetime, cutoff: datetime | None, epoch: datetime | None = None) -> datetime:
    """The time to record for a lock made at ``moment``.

    With an absolute ``exclude-newer`` (``cutoff``) the time is fixed by it: never later.
    Without one, ``SOURCE_DATE_EPOCH`` (``epoch``), when set, replaces ``moment``, so that a
    fresh lock (and the archive times taken from it) is the same in every build.
    """
    if cutoff is not None:
        return min(moment, cutoff)
    return epoch if epoch is not None else moment


def time_problem(locked: datetime, cutoff: datetime | None, now: datetime) -> str | None:
    """Why a lock is stale with respect to ``exclude-newer`` (``None`` if it is not).

    A lock recorded after the cut-off was made with a later one; a lock recorded before a
    cut-off that has since passed may miss packages published in between.
    """
    if cutoff is None:
        return None
    if locked > cutoff:
        return f"locked at {format_time(locked)}, later than exclude-newer {format_time(cutoff)}"
    if locked < cutoff <= now:
        return (
            f"exclude-newer moved to {format_time(cutoff)} since the lock ({format_time(locked)})"
        )
    return None


def read_meta(path: Path) -> LockMeta | None:
    """Read a lock metadata file (``None`` when there is none).

    Raises:
        LockError: the file exists but is not valid lock metadata.
    """
    try:
        data = bounded_json.read_file(
            path, where=f"{path}: unreadable lock metadata", error=LockError
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockError(f"{path}: unreadable lock metadata: {exc}") from exc
    try:
        extra = data.get("envstacks") or {}
        platforms = extra.get("platforms")
        meta = LockMeta(
            **{name: str(data[name]) for name in HASH_FIELDS},
            lock_version=int(data.get("lock_version", 1)),
            locked_at=str(data["locked_at"]),
            platforms=None if platforms is None else tuple(str(p) for p in platforms),
            uv_inputs_hash=extra.get("uv_inputs_hash"),
        )
        meta.locked_time  # noqa: B018 - validate the time now rather than at first use
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LockError(f"{path}: invalid lock metadata ({type(exc).__name__}: {exc})") from exc
    return meta


def _records_same(old: LockMeta, new: LockMeta) -> bool:
    """Whether ``old`` already records ``new`` (envstacks' extra inputs, if ``old`` has them)."""
    venvstacks_fields = (*HASH_FIELDS, "lock_version", "locked_at")
    if any(getattr(old, name) != getattr(new, name) for name in venvstacks_fields):
        return False
    if old.platforms is None and old.uv_inputs_hash is None:
        return True  # written by venvstacks: keep its file as it is
    return (old.platforms, old.uv_inputs_hash) == (new.platforms, new.uv_inputs_hash)


def write_meta(path: Path, meta: LockMeta) -> bool:
    """Write lock metadata as venvstacks does (sorted keys, 2-space indent, LF); True if changed.

    Metadata that already records the same is kept as it is (module docstring). The file is
    replaced atomically and flushed to disk: it is committed with the lock.
    """
    try:
        old = read_meta(path)
    except LockError:
        old = None
    if old is not None and _records_same(old, meta):
        return False
    return write_json(path, meta.to_json(), durable=True)
