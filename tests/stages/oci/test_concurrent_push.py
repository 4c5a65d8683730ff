"""Pushes of different platforms to one tag at the same moment never lose a platform.

Two real pushes (threads of this process, each with its own registry client) write one tag
of the real registry, which ignores preconditions (so each push reads the tag back after a
wait), and of the test front-end that honours them as a registry with conditional writes
would (:mod:`frontend`; none runs here). The forced interleavings hold a push's first
index write until the other's is in, which is the race itself made certain; only the order
is forced, every request is real.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published import oci_layout as oa
from envstacks.stages.oci import PushOptions, PushResult
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.credentials import Credentials
from envstacks.stages.oci.push_folder import push_publish_folder
from envstacks.stages.oci.reference import parse_reference
from kits.publishes import HOST, OTHER, Publishes, relabel

from .frontend import Frontend

WRITER = Credentials(source="the test", username="writer", password="write-pass")


@pytest.fixture
def folders(tmp_path: Path, real_publishes: Publishes) -> dict[str, Path]:
    """This platform's real tagged publish and its relabelled twin (copies: pushes record)."""
    host = shutil.copytree(real_publishes.tagged_v1, tmp_path / "host")
    return {HOST: host, OTHER: relabel(host, tmp_path / "other")}


@pytest.fixture(params=["registry", "conditional"])
def target(request: pytest.FixtureRequest, registry: Any) -> Iterator[tuple[str, Any]]:
    """``(host, credentials)`` of the real registry, or of the front-end honouring preconditions."""
    if request.param == "registry":
        yield registry.host, None
        return
    frontend = Frontend(registry.host, users={"writer": ("write-pass", {"pull", "push"})})
    frontend.preconditions = True
    yield frontend.host, WRITER
    frontend.stop()


class Ordered(RegistryClient):
    """A push client whose first read and first write of the tag can be ordered by events.

    ``after_read`` is set once it has read the tag; its first write of the tag waits for
    ``before_write``; ``wrote`` is set once a write of the tag went through.
    """

    def __init__(
        self,
        url: str,
        credentials: Any,
        *,
        after_read: threading.Event | None = None,
        before_write: threading.Event | None = None,
        wrote: threading.Event | None = None,
    ) -> None:
        super().__init__(parse_reference(url), push=True, credentials=credentials, find=False)
        self.after_read, self.before_write, self.wrote = after_read, before_write, wrote

    def read_manifest(self, reference: str, *, what: str) -> tuple[bytes, str, str, str | None]:
        try:
            return super().read_manifest(reference, what=what)
        finally:
            if self.after_read is not None and not reference.startswith("sha256:"):
                self.after_read.set()

    def put_manifest(self, reference: str, *args: Any, **kwargs: Any) -> str:
        if reference.startswith("sha256:"):
            return super().put_manifest(reference, *args, **kwargs)
        if self.before_write is not None:
            assert self.before_write.wait(30)
            self.before_write = None
        digest = super().put_manifest(reference, *args, **kwargs)
        if self.wrote is not None:
            self.wrote.set()
        return digest


def _raced(url: str, credentials: Any) -> tuple[Ordered, Ordered]:
    """Clients for this platform's push and the other's, in the order that loses a platform.

    The other push reads the tag first; this one writes its index after that read; the
    other's write waits until this one's is in: without a check, it replaces this one's.
    """
    theirs_read, ours_wrote = threading.Event(), threading.Event()
    ours = Ordered(url, credentials, before_write=theirs_read, wrote=ours_wrote)
    theirs = Ordered(url, credentials, after_read=theirs_read, before_write=ours_wrote)
    return ours, theirs


def _at_once(*pushes: Callable[[], PushResult]) -> list[PushResult]:
    """Run the pushes on threads released together; their results (errors re-raised)."""
    start = threading.Barrier(len(pushes))
    results: list[Any] = [None] * len(pushes)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = pushes[index]()
        except BaseException as exc:  # re-raised below, in the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pushes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _platforms_at(url: str, credentials: Any) -> set[str]:
    client = RegistryClient(parse_reference(url), push=False, credentials=credentials, find=False)
    data, _media_type, _digest = client.get_manifest(parse_reference(url).tag or "", what="read")
    return {p for p in map(oa.entry_platform, oa.manifest_json(data, where=url)["manifests"]) if p}


def _push(folder: Path, url: str, platform: str, client: RegistryClient) -> PushResult:
    return push_publish_folder(
        folder,
        PushOptions(target=url),
        reporter=RecordingReporter(),
        platforms=(platform,),
        merge=True,
        client=client,
    )


def test_five_rounds_of_two_concurrent_platform_pushes_keep_both(
    folders: dict[str, Path], target: tuple[str, Any]
):
    host, credentials = target
    for round_number in range(5):
        url = f"oci://{host}/team/stack:round-{round_number}"
        results = _at_once(
            *(
                lambda platform=platform, url=url: _push(
                    folders[platform], url, platform, Ordered(url, credentials)
                )
                for platform in (HOST, OTHER)
            )
        )
        assert _platforms_at(url, credentials) == {HOST, OTHER}, f"round {round_number}"
        assert all(set(result.platforms) >= set(result.manifests) for result in results)


def test_an_index_overwritten_by_a_push_that_read_the_tag_first_is_merged_again(
    folders: dict[str, Path], registry: Any
):
    """The race made certain on a registry that ignores preconditions.

    The other platform's push reads the empty tag; this platform's push writes its index;
    the other's write then replaces it with an index that lacks this platform. Reading the
    tag back after its wait, this platform's push finds itself missing and merges again.
    """
    url = registry.url("team/stack", "race")
    ours, theirs = _raced(url, None)
    mine, other = _at_once(
        lambda: _push(folders[HOST], url, HOST, ours),
        lambda: _push(folders[OTHER], url, OTHER, theirs),
    )
    assert mine.index_writes == 2  # written, overwritten, written again
    assert mine.conditional is False and other.conditional is False
    assert _platforms_at(url, None) == {HOST, OTHER}


def test_a_registry_honouring_preconditions_refuses_the_stale_write(
    folders: dict[str, Path], registry: Any
):
    """The same race where the registry has conditional writes: the stale write gets 412."""
    frontend = Frontend(registry.host, users={"writer": ("write-pass", {"pull", "push"})})
    frontend.preconditions = True
    try:
        url = frontend.url("team/stack", "race")
        ours, theirs = _raced(url, WRITER)
        mine, other = _at_once(
            lambda: _push(folders[HOST], url, HOST, ours),
            lambda: _push(folders[OTHER], url, OTHER, theirs),
        )
        assert mine.conditional is True and other.conditional is True
        assert frontend.refused_writes == 3  # the two probes, and the other's stale write
        assert (mine.index_writes, other.index_writes) == (1, 1)
        assert _platforms_at(url, WRITER) == {HOST, OTHER}
    finally:
        frontend.stop()
