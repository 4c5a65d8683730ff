"""Paths with spaces, quotes, ``$`` and non-ASCII letters work for every folder envstacks uses.

A project in a folder with a space once could not be locked. The session's stack was locked and
built in such a folder (project and build folder); here it is published, deployed (from the
folder and from a ``file://`` URL), exported, moved and run, each into such a folder.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse

from .conftest import AWKWARD, LAYERS, leftovers, run_app


def test_project_and_build_folder_with_awkward_names(built_stack):
    assert AWKWARD in str(built_stack.project) and AWKWARD in str(built_stack.build_dir)
    shown = built_stack.cli("show")
    assert "cpython-3.12" in shown.stdout
    for layer in LAYERS:
        assert (built_stack.build_dir / layer.split("@")[0]).is_dir()


def test_publish_deploy_and_run_in_awkward_folders(built_stack):
    output = built_stack.folder("dist")
    target = built_stack.folder("deployed")
    built_stack.cli("publish", "--output-dir", output)
    built_stack.cli("deploy", output, "--target", target)

    report = run_app(target)

    assert report == {"answer": 42, "prefix": str(target / "app-useext")}
    assert not leftovers(output, target, built_stack.build_dir)


def test_deploy_from_a_file_url_with_awkward_characters(built_stack):
    output = built_stack.folder("dist-url")
    target = built_stack.folder("deployed-url")
    built_stack.cli("publish", "--output-dir", output)
    url = "file://" + urllib.parse.quote(str(output))

    built_stack.cli("deploy", url, "--target", target)

    assert run_app(target)["answer"] == 42


def test_local_export_into_an_awkward_folder_runs_and_moves(built_stack):
    export = built_stack.folder("export")
    built_stack.cli("local-export", "--output-dir", export)
    assert run_app(export)["prefix"] == str(export / "app-useext")
    moved = built_stack.folder("moved export")
    export.rename(moved)
    for layer in LAYERS:  # the documented move: rerun each postinstall, runtime first
        subprocess.run([sys.executable, moved / layer / "postinstall.py"], check=True)
    assert run_app(moved)["prefix"] == str(moved / "app-useext")
