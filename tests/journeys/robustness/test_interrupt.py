"""Ctrl-C during ``publish`` (a real SIGINT to a real CLI process): packers stop, nothing is left.

Before, the interrupted publish waited for every queued and running pack to finish, then left
the finished archives under their temporary names in the output folder.
"""

from __future__ import annotations

import json
import signal
import time

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
