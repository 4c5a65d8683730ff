"""Runs that share a folder take turns (real CLI processes): publish, build, lock.

Before folder locks, two publishes of one build folder (or two builds publishing into one
output folder) removed each other's staging folders and temporary archives, and one failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from envstacks.floor.fs import file_sha256

from .conftest import LAYERS, envstacks, leftovers, start

#: Holds a folder's lock as another envstacks run would, until its stdin closes.
HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from envstacks.floor.folderlock import hold
    from envstacks.floor.report import NullReporter

    with hold(Path(sys.argv[1]), verb=sys.argv[2], reporter=NullReporter()):
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def _published(output: Path) -> list[str]:
    """The archives the manifest lists, each checked against its size and sha256."""
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    names = []
    for entries in manifest["layers"].values():
        for entry in entries:
            archive = output / entry["archive_name"]
            assert archive.stat().st_size == entry["archive_size"]
            assert file_sha256(archive) == entry["archive_hashes"]["sha256"]
            names.append(entry["install_target"])
    return sorted(names)


def _finish(*runs: subprocess.Popen[str]) -> list[tuple[str, str]]:
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, f"{out}\n{err}"
        assert "bug in envstacks" not in err
    return outputs


def _stderr_until(run: subprocess.Popen[str], text: str) -> str:
    assert run.stderr is not None
    seen = ""
    deadline = time.monotonic() + 120
    while text not in seen and time.monotonic() < deadline:
        line = run.stderr.readline()
        if not line:
            break
        seen += line
    return seen


def test_two_publishes_of_one_build_folder_at_once(built_stack):
    one, two = built_stack.folder("pub one"), built_stack.folder("pub two")

    _finish(
        built_stack.start("publish", "--force", "--output-dir", one),
        built_stack.start("publish", "--force", "--output-dir", two),
    )

    assert _published(one) == _published(two) == sorted(LAYERS)
    assert not leftovers(one, two, built_stack.build_dir)


def test_two_publishes_into_one_output_folder_at_once(built_stack):
    output = built_stack.folder("pub shared")

    _finish(*(built_stack.start("publish", "--force", "--output-dir", output) for _ in range(2)))

    assert _published(output) == sorted(LAYERS)
    assert not leftovers(output, built_stack.build_dir)


def test_publish_waits_visibly_while_its_build_folder_is_in_use(built_stack):
    output = built_stack.folder("pub waits")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(built_stack.build_dir), "build"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    publish = built_stack.start("publish", "--output-dir", output)

    seen = _stderr_until(publish, "waiting for it to finish")

    expected = f"another build (process {holder.pid}) is running in {built_stack.build_dir}"
    assert f"{expected}; waiting for it to finish" in seen
    assert not output.exists() or not any(output.iterdir())
    holder.communicate("go\n", timeout=30)
    _finish(publish)
    assert _published(output) == sorted(LAYERS)


def test_two_builds_publishing_into_one_output_folder(built_stack, tmp_path):
    second_build = built_stack.folder("second build")
    built_stack.cli("build", "--build-dir", second_build)
    output = built_stack.folder("pub two builds")

    _finish(
        built_stack.start("publish", "--force", "--output-dir", output),
        built_stack.start(
            "publish", "--force", "--build-dir", second_build, "--output-dir", output
        ),
    )

    assert _published(output) == sorted(LAYERS)
    assert not leftovers(output, built_stack.build_dir, second_build)


def test_two_locks_of_one_project_at_once(built_stack):
    copy = built_stack.folder("lock copy")
    shutil.copytree(built_stack.project, copy, ignore=shutil.ignore_patterns("_build"))
    runs = [
        start("lock", "--no-index", "--local-wheels", "wheels", "--reset-lock", "*", cwd=copy)
        for _ in range(2)
    ]

    _finish(*runs)

    status = json.loads(envstacks("show", "--json", cwd=copy).stdout)
    valid = {
        layer["name"]: layer["has_valid_lock"]
        for kind in ("runtimes", "frameworks", "applications")
        for layer in status[kind]
    }
    assert valid == dict.fromkeys(["cpython-3.12", "framework-clib", "app-useext"], True)
    assert not leftovers(copy)
