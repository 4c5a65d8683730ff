"""``envstacks publish --to oci://`` and ``envstacks deploy oci://`` with a really built stack.

The stack is the publish tests' (tests/stages/packing/test_publish_real.py): a local CPython made
relocatable, a versioned framework shipping ``libdemo.so.1`` and an application whose
extension module links it, locked offline against wheels compiled in the test. Version 2
changes the application's launch module only; the registry's own log and storage show that
only its archive (and the new metadata) went up, and only its archive came down.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.stages.locking import LockOptions
from envstacks.stages.stackspec import load
from kits import clib_stack

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="needs Linux and gcc",
)

LAYERS = clib_stack.LAYERS


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, kit, python_for) -> Path:
    """The stack, locked and built once for this module."""
    root = tmp_path_factory.mktemp("registry-cli") / "project"
    root.mkdir()
    kit.build_dynlib_wheels(root, python_for("3.12"))
    (root / "pyproject.toml").write_text(clib_stack.SPEC, encoding="utf-8")
    (root / "useext.py").write_text(clib_stack.APP, encoding="utf-8")
    _lock_and_build(kit, root)
    return root


def _lock_and_build(kit, root: Path) -> None:
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(
        spec, reporter, options=LockOptions(index=False, local_wheels=(root / "wheels",))
    )
    kit.build_stack(spec, reporter)


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_app(target: Path) -> dict:
    return json.loads(clib_stack.run_app(target)[-1])


def test_publish_to_registry_deploy_run_then_second_version(  # noqa: PLR0917 - fixtures
    project: Path, tmp_path: Path, registry, kit, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = str(project / "pyproject.toml")
    v1 = registry.url("demo/stack", "1")
    code, out, err = cli(
        "publish", spec, "--output-dir", str(tmp_path / "out"), "--to", v1, capsys=capsys
    )
    assert code == 0, err
    assert f"pushed: {v1} for" in out
    # Three archives, their file indexes and SBOMs, and the config.
    assert out.count("uploaded: ") == 10

    target = tmp_path / "deployed"
    code, out, err = cli("deploy", v1, "--target", str(target), capsys=capsys)
    assert code == 0, err
    report = run_app(target)
    assert report["answer"] == 42
    assert report["prefix"] == str(target / "app-useext")

    # Version 2: the application's module changed; nothing else.
    (project / "useext.py").write_text(
        clib_stack.APP + 'print(json.dumps({"version": 2}))\n', encoding="utf-8"
    )
    _lock_and_build(kit, project)
    stored = registry.stored_blobs()
    mark = registry.mark()
    v2 = registry.url("demo/stack", "2")
    code, out, err = cli(
        "publish",
        spec,
        "--output-dir",
        str(tmp_path / "out"),
        "--to",
        v2,
        "--json-results",
        capsys=capsys,
    )
    assert code == 0, err
    pushed = json.loads(out)["pushed"]
    sent = {blob["kind"]: blob for blob in pushed["blobs"] if blob["uploaded"]}
    assert {kind: blob["name"] for kind, blob in sent.items()} == {
        "archive": "app-useext.tar.zst",
        "file index": "app-useext.tar.zst.files.json.gz",
        "sbom": "app-useext.tar.zst.cdx.json",
        "config": f"venvstacks-{host_platform()}.json",
    }
    digests = {blob["digest"] for blob in sent.values()}
    assert set(registry.blob_uploads(mark)) == digests
    assert registry.stored_blobs() - stored == {
        *digests,
        *pushed["manifests"].values(),
        pushed["index_digest"],
    }

    mark = registry.mark()
    code, out, err = cli("deploy", v2, "--target", str(target), "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["installed"] == ["app-useext"]
    assert sorted(result["reused"]) == ["cpython-3.12", "framework-clib@1"]
    # The metadata, the archive, and its file index (kept in the target for later deltas);
    # not its SBOM, which deploy does not need.
    assert set(registry.blob_gets(mark)) == digests - {sent["sbom"]["digest"]}
    assert run_app(target) == {"version": 2}


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path, registry, capsys) -> None:
    code, _, err = cli(
        "deploy", registry.url("missing/stack"), "--target", str(tmp_path / "t"), capsys=capsys
    )
    assert code == 1
    assert "not found (HTTP 404" in err
    assert "Traceback" not in err
    code, _, err = cli("publish", "--to", "oci://just-a-name", capsys=capsys)
    assert code == 2  # a usage error, found before anything is built
    assert "names no repository" in err


def test_missing_extra_is_explained(tmp_path: Path, registry) -> None:
    """Without urllib3 (the ``oci`` extra), a registry command says what to install."""
    script = (
        "import sys; sys.modules['urllib3'] = None\n"
        "from envstacks.frontends.cli import main\n"
        f"sys.exit(main(['deploy', {registry.url('stack')!r}, '--target', {str(tmp_path)!r}]))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert ran.returncode == 1
    assert "needs the 'oci' extra" in ran.stderr
    assert "pip install 'envstacks[oci]'" in ran.stderr
