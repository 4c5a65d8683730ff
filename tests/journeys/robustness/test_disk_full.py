"""Publish on a full or read-only disk, from a read-only build folder, and deploy without scripts.

Output folders are real tmpfs mounts and the build folder a read-only bind mount (root only:
these skip elsewhere); every run is the real CLI.
"""

from __future__ import annotations

import json
import subprocess

from .conftest import LAYERS, envstacks, leftovers, run_app


def _clear(done: subprocess.CompletedProcess[str], text: str) -> None:
    assert done.returncode == 1, done.stderr
    assert text in done.stderr, done.stderr
    assert "hint: " in done.stderr
    assert "bug in envstacks" not in done.stderr and "Traceback" not in done.stderr


def test_publish_onto_a_full_disk(built_stack, small_fs):
    disk = small_fs(size="4m")  # the runtime's archive alone is bigger
    output = disk.path / "dist"

    done = built_stack.cli("publish", "--output-dir", output, check=False)

    _clear(done, f"publish: no space left on the file system of {output}")
    assert not [p for p in output.iterdir() if p.is_file()]  # no archive under a final name
    assert not (output / "__venvstacks__" / "venvstacks.json").exists()
    assert not leftovers(output, built_stack.build_dir)
    disk.read_write(size="512m")  # the user frees space
    built_stack.cli("publish", "--output-dir", output)
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    assert sorted(e["install_target"] for es in manifest["layers"].values() for e in es) == sorted(
        LAYERS
    )


def test_publish_into_a_read_only_output_folder(built_stack, small_fs):
    disk = small_fs(size="4m")
    disk.read_only()

    done = built_stack.cli("publish", "--output-dir", disk.path / "dist", check=False)

    _clear(done, f"publish: {disk.path / 'dist'} is on a read-only file system")


def test_publish_from_a_read_only_build_folder(built_stack, read_only_bind, tmp_path):
    copy = built_stack.folder("frozen build")
    envstacks("build", "--build-dir", copy, cwd=built_stack.project)
    read_only_bind(copy)

    done = built_stack.cli(
        "publish", "--build-dir", copy, "--output-dir", tmp_path / "dist", check=False
    )

    _clear(done, f"publish: {copy} is on a read-only file system")
    assert "choose a writable folder" in done.stderr


def test_deploy_without_postinstall_runs(built_stack):
    output = built_stack.folder("dist no scripts")
    target = built_stack.folder("deployed no scripts")
    built_stack.cli("publish", "--output-dir", output)

    built_stack.cli("deploy", output, "--target", target, "--no-postinstall")

    assert run_app(target) == {"answer": 42, "prefix": str(target / "app-useext")}
