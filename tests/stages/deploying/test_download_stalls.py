"""Downloads under a slow or stalled server (issue 20, class 7), with a real slow HTTP server.

A stalled server (headers, a few bytes, then silence) ends the deploy with an error naming the
URL once ``ENVSTACKS_HTTP_TIMEOUT`` passes; a cancelled run (Ctrl-C, or another layer failing)
stops a slow download at the next bytes that arrive, not when the download ends.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, EnvStacksError
from envstacks.floor.report import NullReporter, RecordingReporter
from envstacks.floor.workers import Cancellation, Cancelled
from envstacks.orchestrator.distribution import deploy
from envstacks.published.http_download import download
from kits.http_server import QuietHandler, serve


class Slow(QuietHandler):
    """Serves archives a few bytes at a time, then (``stall``) not at all."""

    stall = False

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        for _ in range(3):
            outputfile.write(source.read(16))
            outputfile.flush()
            time.sleep(0.1)
        if self.stall:
            time.sleep(30)
            return
        while chunk := source.read(64):
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(0.2)


class Stalled(Slow):
    stall = True
    #: The paths asked for, in order (to count retries).
    asked: list[str] = []

    def do_GET(self) -> None:
        Stalled.asked.append(self.path)
        super().do_GET()


def test_a_stalled_server_ends_the_download_naming_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "big.bin").write_bytes(b"x" * 100_000)
    monkeypatch.setenv("ENVSTACKS_HTTP_TIMEOUT", "1")
    Stalled.asked.clear()
    with serve(tmp_path / "site", Stalled) as url:
        task = NullReporter().task("layer", "fetch")
        with pytest.raises(DeployError) as caught:
            download(f"{url}big.bin", tmp_path / "big.part", size=100_000, task=task)
    assert Stalled.asked == ["/big.bin"]  # a stall is not retried: one timeout, not five
    assert f"{url}big.bin" in caught.value.message
    assert "sent nothing for 1 seconds" in caught.value.message
    assert "ENVSTACKS_HTTP_TIMEOUT" in (caught.value.hint or "")


def test_a_cancelled_run_stops_a_slow_download_at_its_next_bytes(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "big.bin").write_bytes(b"x" * 100_000)  # 5 minutes at this pace
    cancellation = Cancellation()
    threading.Timer(1.0, cancellation.cancel).start()
    with serve(tmp_path / "site", Slow) as url:
        task = cancellation.watch(NullReporter().task("layer", "fetch"))
        with pytest.raises(Cancelled):
            download(f"{url}big.bin", tmp_path / "big.part", size=100_000, task=task)
    # Stopped at the bytes that came after the cancel (a few hundred), not at the end.
    assert (tmp_path / "big.part").stat().st_size < 10_000


def test_a_bad_http_timeout_is_a_clear_error(tmp_path: Path, monkeypatch, pm) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ENVSTACKS_HTTP_TIMEOUT", "soon")
    (tmp_path / "site").mkdir()
    with serve(tmp_path / "site", QuietHandler) as url, pytest.raises(EnvStacksError) as caught:
        deploy(url, tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert "ENVSTACKS_HTTP_TIMEOUT='soon'" in str(caught.value)
