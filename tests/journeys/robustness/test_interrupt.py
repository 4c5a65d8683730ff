"""Ctrl-C during ``publish``, ``deploy`` and ``build`` (a real SIGINT to a real CLI process).

Nothing is left, only the CLI reports the interruption, and it is acted on at once. Before,
the interrupted publish waited for every queued and running pack to finish, then left the
finished archives under their temporary names in the output folder; a deploy's unpack
workers printed their own tracebacks; a build finished its runtime copy first.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kits import pure_stack
from kits.http_server import QuietHandler, serve
from kits.layers import RUNTIME, Layer, publisher

from .conftest import leftovers


def _read_until(process: subprocess.Popen[str], text: str) -> str:
    """Read the process's stderr until ``text`` appears; what was read."""
    assert process.stderr is not None
    seen = ""
    while text not in seen:
        line = process.stderr.readline()
        assert line, seen
        seen += line
    return seen


def test_ctrl_c_during_publish_stops_the_packers_and_cleans_up(built_stack):
    output = built_stack.folder("interrupted")
    built_stack.cli("publish", "--output-dir", output)  # a complete publish to keep intact
    manifest = (output / "__venvstacks__" / "venvstacks.json").read_bytes()
    archives = sorted(p.name for p in output.iterdir() if p.is_file())
    # tar.xz packs slowly (several seconds for the runtime alone): time to interrupt it.
    publish = built_stack.start("publish", "--force", "--format", "tar.xz", "--output-dir", output)
    _read_until(publish, "pack tar.xz...")
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


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid``, with its depth (1: a child, 2: a grandchild...)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    depth = {pid: 0}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in depth and child not in depth:
                depth[child] = depth[parent] + 1
                changed = True
    del depth[pid]
    return depth


def test_ctrl_c_while_unpack_workers_run_prints_no_worker_traceback(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it (to every process of the job) while workers are alive.

    A worker that took the SIGINT printed ``Process ForkServerProcess-2: Traceback ...
    KeyboardInterrupt``; whenever a worker is alive at the signal, that traceback was certain,
    so each round waits until workers (grandchildren: the fork server's children) exist.
    """
    if not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("unpack workers run on Linux with two cores or more")
    big = base64.b64encode(random.Random(7).randbytes(9 << 20)).decode()  # ~7 MiB compressed
    layers = [
        Layer(RUNTIME, "runtimes", files={"big.txt": big}),
        Layer("framework-fw", "frameworks", files={"big.txt": big[::-1]}),
        Layer("app-one", "applications", required=("framework-fw",), files={"big.txt": big[1:]}),
    ]
    output = publisher(tmp_path)(tmp_path / "dist", layers)
    caught = 0
    for attempt in range(12):
        if caught == 3:
            break
        target = tmp_path / f"target-{attempt}"
        deploy = subprocess.Popen(
            [sys.executable, "-m", "envstacks", "deploy", str(output), "--target", str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's job
        )
        workers_alive = False
        deadline = time.monotonic() + 60
        while deploy.poll() is None and time.monotonic() < deadline:
            if any(depth >= 2 for depth in _descendants(deploy.pid).values()):
                workers_alive = True
                os.killpg(deploy.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
                break
            time.sleep(0.002)
        _, err = deploy.communicate(timeout=60)
        if not workers_alive:
            continue  # the deploy was done before a worker could be seen: another round
        caught += 1
        assert deploy.returncode == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert err.rstrip().endswith("interrupted"), err
        assert not target.exists() or not leftovers(target)
    assert caught == 3, "no round caught the unpack workers alive"


def test_ctrl_c_during_a_runtime_copy_stops_the_copy(tmp_path: Path, python_for) -> None:
    """Before, the build went on until the copy (and the rest of the runtime's build) finished."""
    python_for("3.12")
    project = tmp_path / "project"
    project.mkdir()
    # A runtime alone: its lock is quick, and its build starts with the copy.
    (project / "pyproject.toml").write_text(
        pure_stack.SPEC.partition("[[tool.venvstacks.frameworks]]")[0], encoding="utf-8"
    )
    locked = subprocess.run(
        [sys.executable, "-m", "envstacks", "-q", "lock", "--no-index", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert locked.returncode == 0, locked.stderr
    fresh = tmp_path / "fresh build"  # the build copies the runtime again there
    build = subprocess.Popen(
        [sys.executable, "-m", "envstacks", "build", "--build-dir", str(fresh), str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = _read_until(build, "cpython-3.12: copy runtime...")
    build.send_signal(signal.SIGINT)  # the copy takes a second or more: it is under way
    _, err = build.communicate(timeout=60)
    err = seen + err
    assert build.returncode == 130, err
    assert "copy runtime: done" not in err, err  # stopped inside the copy, not after it
    assert "Traceback" not in err
    assert not (fresh / "cpython-3.12").exists()
    assert not leftovers(fresh)
