"""Deploy reads each archive once: hashed while unpacking (local) or while downloading (HTTP).

Real archives of the built-in formats, a real HTTP server on 127.0.0.1; the only thing watched
is how archive bytes are read (a counting wrapper around the real reader).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from envstacks.floor.errors import VerificationError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published import archive_fetch as fetch_module
from envstacks.published import verified_unpack as streaming
from envstacks.published.http_download import download
from envstacks.stages.deploying import DeployOptions
from envstacks.stages.deploying import unpack_workers as unpackers
from kits.http_server import QuietHandler, serve
from kits.layers import FRAMEWORK, RUNTIME, Layer, snapshot


def _no_separate_hashing(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Fail if deploy hashes an archive file on its own; count bytes read while unpacking."""

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("the archive was read a second time to hash it")

    monkeypatch.setattr(fetch_module, "file_sha256", refuse)
    counted: dict[str, int] = {}
    real_finish = streaming.VerifyingReader.finish

    def finish(self: streaming.VerifyingReader) -> str:
        digest = real_finish(self)
        counted[Path(self.name).name] = counted.get(Path(self.name).name, 0) + self.count
        return digest

    monkeypatch.setattr(streaming.VerifyingReader, "finish", finish)
    return counted


@pytest.mark.parametrize("fmt", ["tar.zst", "tar.xz"])
def test_a_local_deploy_reads_each_archive_once(fmt, tmp_path, publish_layers_to, pm, monkeypatch):
    output = publish_layers_to(tmp_path / "dist", fmt=fmt)
    counted = _no_separate_hashing(monkeypatch)
    result = deploy(output, tmp_path / "deployed", pm=pm, reporter=RecordingReporter())
    assert len(result.installed) == 4
    sizes = {path.name: path.stat().st_size for path in output.glob(f"*.{fmt}")}
    assert counted == sizes  # every byte once, hashed on the way


def test_zip_needs_random_access_and_is_verified_first(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist", fmt="zip")
    result = deploy(output, tmp_path / "deployed", pm=pm, reporter=RecordingReporter())
    assert len(result.installed) == 4


def _tamper(output: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    archive = output / name
    data = bytearray(archive.read_bytes())
    edit(data)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_damaged_or_altered_archive_is_a_verification_error(
    where, tmp_path, publish_layers_to, pm
):
    output = publish_layers_to(tmp_path / "dist", [Layer(RUNTIME, "runtimes")])
    target = tmp_path / "deployed"
    name = f"{RUNTIME}.tar.zst"

    def edit(data: bytearray) -> None:
        index = len(data) - 1 if where == "end" else len(data) // 2
        data[index] ^= 0xFF

    _tamper(output, name, edit)
    with pytest.raises(VerificationError, match="sha256 is") as caught:
        deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert name in caught.value.message
    assert not target.exists()  # no layer, no work folder: the failed first deploy left nothing


def test_an_http_download_is_named_only_once_verified(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist", [Layer(RUNTIME, "runtimes")])
    name = f"{RUNTIME}.tar.zst"
    manifest = output / "__venvstacks__" / "venvstacks.json"
    data = json.loads(manifest.read_text())
    data["layers"]["runtimes"][0]["archive_hashes"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    target = tmp_path / "deployed"
    with serve(output, QuietHandler) as url, pytest.raises(VerificationError) as caught:
        deploy(url, target, pm=pm, reporter=RecordingReporter())
    assert name in caught.value.message
    downloads = target / ".envstacks-downloads"
    assert not (downloads / name).exists()  # never under its own name
    assert not (downloads / f"{name}.part").exists()  # and not kept for the next attempt
    assert not (target / RUNTIME).exists()


def test_a_verified_download_is_not_read_again(tmp_path, publish_layers_to, pm, monkeypatch):
    output = publish_layers_to(tmp_path / "dist")
    counted = _no_separate_hashing(monkeypatch)
    before = snapshot(output)
    with serve(output, QuietHandler) as url:
        result = deploy(url, tmp_path / "deployed", pm=pm, reporter=RecordingReporter())
    assert result.installed == (RUNTIME, FRAMEWORK, "app-one", "app-two@2")
    assert counted == {}  # hashed while downloading, not while unpacking
    assert snapshot(output) == before


def test_download_returns_the_sha256_of_a_resumed_file(tmp_path, publish_layers_to):
    output = publish_layers_to(tmp_path / "dist", [Layer(RUNTIME, "runtimes")])
    archive = output / f"{RUNTIME}.tar.zst"
    data = archive.read_bytes()
    part = tmp_path / "x.part"
    part.write_bytes(data[: len(data) // 3])  # left by an interrupted deploy
    with serve(output, QuietHandler) as url:
        digest = download(
            url + archive.name, part, size=len(data), task=RecordingReporter().task("x", "fetch")
        )
    assert digest == hashlib.sha256(data).hexdigest()
    assert part.read_bytes() == data


def test_large_archives_unpack_in_worker_processes(tmp_path, publish_layers_to, pm, monkeypatch):
    output = publish_layers_to(tmp_path / "dist")
    monkeypatch.setattr(unpackers, "PROCESS_MIN", 1)  # the test archives are tiny
    seen: list[int] = []
    real_enter = unpackers.Unpackers.__enter__

    def enter(self: unpackers.Unpackers) -> unpackers.Unpackers:
        seen.append(self.workers)
        return real_enter(self)

    monkeypatch.setattr(unpackers.Unpackers, "__enter__", enter)
    target = tmp_path / "deployed"
    result = deploy(output, target, DeployOptions(jobs=2), pm=pm, reporter=RecordingReporter())
    assert result.installed == (RUNTIME, FRAMEWORK, "app-one", "app-two@2")
    assert seen == [min(2, len(os.sched_getaffinity(0)))]
    # A refusal in a worker comes back as the same error.
    name = f"{FRAMEWORK}.tar.zst"
    _tamper(output, name, lambda data: data.__setitem__(len(data) // 2, data[len(data) // 2] ^ 1))
    with pytest.raises(VerificationError, match=name):
        deploy(
            output, tmp_path / "again", DeployOptions(jobs=2), pm=pm, reporter=RecordingReporter()
        )
