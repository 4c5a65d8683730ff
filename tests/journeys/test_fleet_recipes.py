"""The fleet recipes of the docs, run step by step: two platforms, two versions, every source.

* docs/updates.md, "One index for many platforms": the CI workflow whose matrix jobs build
  and publish each platform with deltas from the release on the web server, push their
  platforms into one registry tag at the same moment and upload their folders, and whose
  last job merges them into the release; machines deploy and update from the release
  folder, its web server and the registry.
* docs/registries.md, GHCR: the workflow whose matrix jobs publish straight to the release's
  tag with deltas from the current release's tag; machines deploy and update from the
  registry.

Each workflow is read from its page and its ``run:`` steps are run in bash as written, with
what a CI machine has replaced by what runs here: the web server is ``http.server`` on
127.0.0.1, the registry is a real distribution registry, ``${{ github.ref_name }}`` is the
version, ``pip install`` steps are left out (this envstacks is installed) and
``actions/upload-artifact``/``download-artifact`` are folder copies. The stack is
:mod:`kits.clib_stack`, really built; its locks are committed before the workflow runs, as
in a repository. No second platform can be built here: the other matrix job's folder is
this job's, relabelled (:func:`kits.publishes.relabel`), and its push runs at the same
moment as this job's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envstacks.published import oci_layout as oa
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.reference import parse_reference
from envstacks.stages.stackspec import load
from kits import clib_stack
from kits.http_server import QuietHandler, serve
from kits.publishes import APP_V2, HOST, OTHER, relabel, write_project

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="needs Linux and gcc",
)

REPO = Path(__file__).parents[2]
#: The runner of the other platform's matrix job, in the workflows' matrices.
OTHER_RUNNER = "ubuntu-24.04-arm"
HOST_RUNNER = "ubuntu-24.04"
PRELUDE = f'set -euo pipefail\nenvstacks() {{ "{sys.executable}" -m envstacks "$@"; }}\n'


def workflow(page: str) -> dict[str, list[dict[str, str]]]:
    """The steps of each job of the workflow a page says this module runs.

    A step is its keys (``uses``, ``run``, ``with``...) with their text; a ``run: |`` block
    is its lines as bash reads them.
    """
    text = (REPO / page).read_text(encoding="utf-8")
    marker = text.index("tests/journeys/test_fleet_recipes.py runs its steps")
    block = text[text.index("```yaml\n", marker) + 8 :]
    block = block[: block.index("\n```")]
    jobs: dict[str, list[dict[str, str]]] = {}
    steps: list[dict[str, str]] | None = None
    step: dict[str, str] = {}
    literal: str | None = None
    for line in block.splitlines():
        if literal is not None and line.startswith(" " * 10):
            step[literal] += line[10:] + "\n"
            continue
        literal = None
        if match := re.fullmatch(r"  ([\w-]+):\s*", line):
            steps = jobs.setdefault(match[1], [])
        elif steps is not None and (match := re.fullmatch(r"      - ([\w-]+): ?(.*)", line)):
            step = {match[1]: match[2]}
            steps.append(step)
        elif steps is not None and (match := re.fullmatch(r"        ([\w-]+): ?(.*)", line)):
            step[match[1]] = match[2]
            if match[2] == "|":
                literal, step[match[1]] = match[1], ""
        elif steps is not None and (match := re.fullmatch(r"          ([\w-]+): (.*)", line)):
            step[f"{next(reversed(step))}.{match[1]}"] = match[2]
    return jobs


def commands(steps: list[dict[str, str]], places: dict[str, str]) -> list[str]:
    """The job's ``run:`` steps that are not ``pip install``, with ``places`` replaced."""
    found = []
    for step in steps:
        command = step.get("run")
        if command is None:
            continue
        if command.startswith("pip install"):
            assert "envstacks" in command
            continue
        for old, new in places.items():
            command = command.replace(old, new)
        assert "${{" not in command, command
        found.append(command)
    return found


def first_release(command: str) -> str:
    """``command`` without ``--delta-from`` (the pages: leave it out for the first release)."""
    return re.sub(r"\s*\\?\n?\s*--delta-from \S+", "", command)


def bash(command: str, cwd: Path) -> subprocess.Popen[str]:
    """Start a workflow step as bash runs it on a runner."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(NO_COLOR="1", UV_PYTHON_DOWNLOADS="never")
    return subprocess.Popen(
        ["bash", "-c", PRELUDE + command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_steps(*started: subprocess.Popen[str]) -> list[str]:
    """Wait for steps started together; each must succeed; their outputs."""
    outputs = []
    for process in started:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, f"{process.args[-1]}\n--- stdout\n{out}\n--- stderr\n{err}"
        outputs.append(out)
    return outputs


def envstacks_json(*args: str | Path) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", "-q", *map(str, args), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_app(target: Path) -> str:
    return clib_stack.run_app(target)[-1]


def tag_platforms(url: str) -> set[str]:
    reference = parse_reference(url)
    client = RegistryClient(reference, push=False)
    data, _media_type, _digest = client.get_manifest(reference.tag or "", what="read")
    entries = oa.manifest_json(data, where=url)["manifests"]
    return {p for p in map(oa.entry_platform, entries) if p}


def methods(summary: dict[str, Any]) -> dict[str, str]:
    return {t["install_target"]: t["method"] for t in summary["transfers"]}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, python_for: Any) -> Path:
    """The stack's repository: its wheels compiled, its locks committed (a first build done)."""
    return write_project(tmp_path_factory.mktemp("fleet"), python_for("3.12"))


@pytest.fixture
def checkout(repository: Path) -> Iterator[Path]:
    """The repository at version 1, as a runner checks it out (no output folders)."""
    (repository / "useext.py").write_text(clib_stack.APP, encoding="utf-8")
    yield repository
    (repository / "useext.py").write_text(clib_stack.APP, encoding="utf-8")


def test_ci_matrix_recipe_of_the_updates_page(checkout: Path, tmp_path: Path, registry: Any):
    jobs = workflow("docs/updates.md")
    assert set(jobs) == {"publish", "merge"}
    www = tmp_path / "www"  # the web server's folder
    www.mkdir()
    targets = {name: tmp_path / f"deployed-{name}" for name in ("folder", "http", "registry")}
    with serve(www, QuietHandler) as url:
        places = {
            "https://downloads.example.com/myapp/": url,
            "oci://ghcr.io/acme/myapp": f"oci://{registry.host}/acme/myapp",
        }
        for version in ("v1", "v2"):
            if version == "v2":  # the release's commit: the application's module changed
                (checkout / "useext.py").write_text(APP_V2, encoding="utf-8")
            here = {**places, "${{ github.ref_name }}": version}
            build, push = commands(jobs["publish"], here)
            assert build.startswith("envstacks build") and push.startswith("envstacks push out")
            # The matrix: this platform's job runs the build; the other's folder is its twin.
            shutil.rmtree(checkout / "out", ignore_errors=True)
            run_steps(bash(build if version == "v2" else first_release(build), checkout))
            other_job = tmp_path / version / OTHER_RUNNER
            relabel(checkout / "out", other_job / "out")
            run_steps(bash(push, checkout), bash(push, other_job))  # at the same moment
            tag = f"oci://{registry.host}/acme/myapp:{version}"
            assert tag_platforms(tag) == {HOST, OTHER}
            # actions/upload-artifact, then the merge job's actions/download-artifact.
            merge_job = tmp_path / version / "merge"
            for runner, job in ((HOST_RUNNER, checkout), (OTHER_RUNNER, other_job)):
                shutil.copytree(job / "out", merge_job / "parts" / f"publish-{runner}")
            (merge,) = commands(jobs["merge"], here)
            run_steps(bash(merge, merge_job))
            # docs/registries.md, "Pushing a folder that exists": the release to a repository
            # of its own; the merged folder remembers where the jobs pushed: nothing uploaded
            # (new blobs mounted, the others there since the first release).
            release = f"oci://{registry.host}/acme/myapp-release:{version}"
            (out,) = run_steps(bash(f"envstacks push release --to {release} --json", merge_job))
            blobs = json.loads(out)["blobs"]
            files = [blob for blob in blobs if blob["kind"] != "config"]
            assert not any(blob["uploaded"] for blob in files), blobs  # in the registry already
            assert {blob["mounted_from"] for blob in files} - {None} == {"acme/myapp"}, blobs
            # The release goes to the web server.
            shutil.rmtree(www)
            shutil.copytree(merge_job / "release", www)

            summaries = {
                "folder": envstacks_json("deploy", www, "--target", targets["folder"]),
                "http": envstacks_json("deploy", url, "--target", targets["http"]),
                "registry": envstacks_json("deploy", tag, "--target", targets["registry"]),
            }
            for name, summary in summaries.items():
                expected = "full" if version == "v1" else "delta"
                assert methods(summary)["app-useext"] == expected, name
                ran = run_app(targets[name])
                assert ran == '{"version": 2}' if version == "v2" else '"answer": 42' in ran
            if version == "v2":
                release = json.loads(
                    (www / "__venvstacks__" / f"venvstacks-{HOST}.json").read_text()
                )
                app = next(e for e in release["layers"]["applications"])
                (delta,) = app["deltas"]
                for name in ("http", "registry"):
                    transfer = next(
                        t
                        for t in summaries[name]["transfers"]
                        if t["install_target"] == "app-useext"
                    )
                    assert transfer["downloaded_bytes"] == delta["archive_size"], name
                    assert methods(summaries[name])["framework-clib@1"] == "reused"


def test_ghcr_recipe_of_the_registries_page(checkout: Path, tmp_path: Path, registry: Any):
    jobs = workflow("docs/registries.md")
    repository = f"oci://{registry.host}/acme/myapp-stack"
    output = load(checkout / "pyproject.toml").settings.output_dir
    target = tmp_path / "deployed"
    for version, current in (("v1", None), ("v2", "v1")):
        if version == "v2":
            (checkout / "useext.py").write_text(APP_V2, encoding="utf-8")
        places = {
            "oci://ghcr.io/${{ github.repository }}-stack": repository,
            "${{ github.ref_name }}": version,
            "${{ vars.CURRENT_RELEASE }}": current or "",
        }
        (publish,) = commands(jobs["publish"], places)
        assert publish.startswith("envstacks build --lock-if-needed --publish --tag-outputs --to")
        shutil.rmtree(output, ignore_errors=True)
        run_steps(bash(publish if current else first_release(publish), checkout))
        # The other platform's job: its folder is this one's twin, pushed as its job would.
        other = relabel(output, tmp_path / version / "other")
        run_steps(bash(f"envstacks push {other} --to {repository}:{version}", tmp_path))
        assert tag_platforms(f"{repository}:{version}") == {HOST, OTHER}

        summary = envstacks_json("deploy", f"{repository}:{version}", "--target", target)
        if version == "v1":
            assert set(methods(summary).values()) == {"full"}
        else:
            assert methods(summary) == {
                "cpython-3.12": "reused",
                "framework-clib@1": "reused",
                "app-useext": "delta",
            }
            assert run_app(target) == '{"version": 2}'
