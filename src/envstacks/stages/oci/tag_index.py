"""Point a tag at an index that holds the pushed platforms, without losing one another push adds.

CI jobs on several machines push their platforms to one tag at the same moment; each reads
the tag's index, adds its own entries and writes the index back. The distribution API has
no compare-and-swap of its own, so :func:`update_tag` writes the way HTTP allows and then
checks:

1. read the tag (its index, digest and ``ETag``); nothing to write when it already lists
   this push's entries;
2. write the merged index with a precondition (``If-Match`` the ``ETag`` read, or
   ``If-None-Match: *`` when the tag does not exist yet). A registry that honours it answers
   ``412`` when another push wrote in between: read again and merge again. Whether it does is
   asked once per push, with a first write whose ``If-Match`` cannot match: ``412`` means it
   honours preconditions; an accepted write means it ignores them (and wrote what this push
   would have written anyway);
3. on a registry that ignores preconditions, wait a moment (at least :data:`SETTLE_SECONDS`,
   and :data:`SETTLE_FACTOR` times what this push's own read and write took) and read the tag
   again: when another push overwrote it with an index made before this one's entries were
   there, this push's entries are missing, and it merges and writes again, with backoff.

Without ``merge`` (an untagged publish), the tag is replaced by this push's platforms alone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envstacks.floor.errors import PublishError, RegistryError, RegistryNotFoundError
from envstacks.floor.report import Reporter
from envstacks.published import oci_layout as oa
from envstacks.stages.oci.client import RegistryClient

__all__ = ["TagUpdate", "update_tag"]

#: Writes of the index before giving up.
ATTEMPTS = 8
#: Shortest wait before reading the tag back (registries without preconditions).
SETTLE_SECONDS = 1.0
#: The wait is at least this many times this push's own read-and-write time.
SETTLE_FACTOR = 3.0
#: An ``If-Match`` no tag's ``ETag`` can be: asks whether preconditions are honoured.
_PROBE = '"envstacks-probe"'


@dataclass(frozen=True, slots=True, kw_only=True)
class TagUpdate:
    """The index the tag points at once this push's entries are in it."""

    index: bytes
    digest: str
    #: The envstacks platforms the index lists.
    platforms: tuple[str, ...]
    #: Writes of the index this push made (0: it was up to date; more than 1: another push
    #: wrote the tag meanwhile).
    writes: int
    #: Whether the registry honoured the conditional write (``None``: not asked, no write).
    conditional: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Tag:
    """What a tag holds now."""

    entries: list[dict[str, Any]]
    index: bytes
    digest: str
    etag: str | None


def update_tag(
    client: RegistryClient,
    tag: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    merge: bool,
    reporter: Reporter,
    sleep: Callable[[float], None] = time.sleep,
) -> TagUpdate:
    """Point ``tag`` at an index holding ``entries`` (and, with ``merge``, the other platforms).

    Raises:
        PublishError: the tag holds something that is not envstacks layers, or it kept
            changing for :data:`ATTEMPTS` writes.
        RegistryError: the registry refused.
    """
    where = f"{client.location}:{tag}"
    wanted = {str(entry["digest"]) for entry in entries}
    what = f"store the index of tag {tag!r}"
    conditional: bool | None = None
    writes = 0
    for attempt in range(1, ATTEMPTS + 1):
        started = time.monotonic()
        current = _read(client, tag, where)
        if merge and current is not None and wanted <= _digests(current.entries):
            return _update(current, writes, conditional)
        index = oa.merged_index(current.entries if merge and current else [], entries)
        written = _Tag(entries=[], index=index, digest=oa.digest_of(index), etag=None)
        if not merge:
            client.put_manifest(tag, index, oa.INDEX, what=what)
            return _update(written, 1, None)
        if conditional is None:
            conditional = _honours_preconditions(client, tag, index, what=what)
        elif not conditional:
            client.put_manifest(tag, index, oa.INDEX, what=what)
        if conditional:
            try:
                client.put_manifest(
                    tag, index, oa.INDEX, what=what, preconditions=_preconditions(current)
                )
            except RegistryError as exc:
                if exc.status != 412:
                    raise
                now = _read(client, tag, where)
                if now is not None and current is not None and now.digest == current.digest:
                    # Refused although the tag did not change: its ETags are not what it
                    # compares; check by reading back instead.
                    conditional = False
                reporter.debug(f"{where}: another push wrote the tag first; merging again")
                sleep(_backoff(attempt))
                continue
            # Written over exactly what was read: nothing of another push was lost.
            return _update(written, writes + 1, conditional)
        writes += 1
        # Another push may have read the tag before this write and be about to write its
        # own index: wait until it must have, then check that this push's entries stayed.
        spent = time.monotonic() - started
        sleep(max(SETTLE_SECONDS, SETTLE_FACTOR * spent) * random.uniform(1.0, 1.5))  # noqa: S311
        after = _read(client, tag, where)
        if after is not None and wanted <= _digests(after.entries):
            return _update(after, writes, conditional)
        reporter.debug(f"{where}: another push replaced the tag's index; merging again")
        sleep(_backoff(attempt))
    raise PublishError(
        f"{where}: the tag kept changing while this push added its platforms ({ATTEMPTS} attempts)",
        hint="other jobs push to the same tag at this moment; run this push again after them",
    )


def _honours_preconditions(client: RegistryClient, tag: str, index: bytes, *, what: str) -> bool:
    """Write ``index`` with an ``If-Match`` that cannot match; whether the registry refused it.

    A registry that ignores preconditions stores ``index``: the write this push makes anyway.
    """
    try:
        client.put_manifest(tag, index, oa.INDEX, what=what, preconditions={"If-Match": _PROBE})
    except RegistryError as exc:
        if exc.status == 412:
            return True
        raise
    return False


def _preconditions(current: _Tag | None) -> dict[str, str]:
    if current is None:
        return {"If-None-Match": "*"}
    return {"If-Match": current.etag or f'"{current.digest}"'}


def _update(tag: _Tag, writes: int, conditional: bool | None) -> TagUpdate:
    entries = tag.entries or oa.manifest_json(tag.index, where="index").get("manifests", [])
    return TagUpdate(
        index=tag.index,
        digest=tag.digest,
        platforms=tuple(sorted({p for p in map(oa.entry_platform, entries) if p})),
        writes=writes,
        conditional=conditional,
    )


def _digests(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(entry.get("digest")) for entry in entries}


def _backoff(attempt: int) -> float:
    return random.uniform(0.1, 0.5) * attempt  # noqa: S311 - jitter, not security


def _read(client: RegistryClient, tag: str, where: str) -> _Tag | None:
    """What ``tag`` holds (``None``: no such tag yet).

    Raises:
        PublishError: the tag holds something other than an envstacks index or manifest.
    """
    try:
        data, media_type, digest, etag = client.read_manifest(tag, what=f"read tag {tag!r}")
    except RegistryNotFoundError:
        return None
    document = oa.manifest_json(data, where=where)
    if media_type == oa.INDEX:
        found = document.get("manifests")
        entries = [dict(e) for e in found if isinstance(e, dict)] if isinstance(found, list) else []
        return _Tag(entries=entries, index=data, digest=digest, etag=etag)
    platform = oa.entry_platform(document)
    if media_type == oa.MANIFEST and document.get("artifactType") == oa.ARTIFACT_TYPE and platform:
        entry = {**oa.index_entry(data, platform), "digest": digest}
        return _Tag(entries=[entry], index=data, digest=digest, etag=etag)
    raise PublishError(
        f"{where} holds {media_type or 'an unknown document'}, not envstacks layers; "
        "merging this platform into it would damage it",
        hint="push to another tag, or delete that tag first",
    )
