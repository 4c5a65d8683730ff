"""Ctrl-C during ``publish`` and ``deploy`` (a real SIGINT to a real CLI process): nothing is left.

Before, the interrupted publish waited for every queued and running pack to finish, then left
the finished archives under their temporary names in the output folder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kits.http_server import QuietHandler, serve
from kits.layers import publisher

from .conftest import leftovers


def test_ctrl_c_during_publish_stops_the_packers_and_cleans_up(built_stack):
    output = built_stack.folder("interrupted")
    built_stack.cli("publish", "--output-dir", output)  # a complete publish to keep intact
    manifest = (output / "__venvstacks__" / "venvstacks.json").read_bytes()
    archives = sorted(p.name for p in output.iterdir() if p.is_file())
    # tar.xz packs slowly (several seconds for the runtime alone): time to interrupt it.
    publish = built_stack.start("publish", "--force", "--format", "tar.xz", "--output-dir", output)
    assert publish.stderr is not None
    seen = ""
    while "pack tar.xz..." not in seen:
        line = publish.stderr.readline()
        assert line, seen
        seen += line
    time.sleep(0.5)  # well inside the runtime's pack

    interrupted = time.monotonic()
    publish.send_signal(signal.SIGINT)
    _, err = publish.communicate(timeout=60)
    stopped_after = time.monotonic() - interrupted

    assert publish.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not leftovers(output, built_stack.build_dir)
    assert sorted(p.name for p in output.iterdir() if p.is_file()) == archives  # no .tar.xz
    assert (output / "__venvstacks__" / "venvstacks.json").read_bytes() == manifest
    assert json.loads(manifest)["layers"]["runtimes"]
    print(f"publish stopped {stopped_after:.2f} s after SIGINT")


class _Trickle(QuietHandler):
    """Serves archives 16 bytes a second (minutes for a layer); everything else at once."""

    started = threading.Event()

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        if not self.path.endswith((".tar.zst", ".zip", ".tar.xz")):
            super().copyfile(source, outputfile)
            return
        _Trickle.started.set()
        while chunk := source.read(16):
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(1)


def test_ctrl_c_during_a_slow_download_stops_the_deploy(tmp_path: Path) -> None:
    """A real SIGINT to ``envstacks deploy`` while an archive trickles in: exit 130 at once."""
    output = publisher(tmp_path)(tmp_path / "dist")
    target = tmp_path / "target"
    _Trickle.started.clear()
    with serve(output, _Trickle) as url:
        deploy = subprocess.Popen(
            [sys.executable, "-m", "envstacks", "deploy", url, "--target", str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert _Trickle.started.wait(60), "the deploy never started downloading"
        time.sleep(0.5)
        deploy.send_signal(signal.SIGINT)
        # Bounds a hang, not a speed: the whole download would take minutes.
        _, err = deploy.communicate(timeout=60)
    assert deploy.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not list(target.glob(".envstacks-tmp.*"))
