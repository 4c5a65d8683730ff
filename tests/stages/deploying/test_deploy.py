"""Deploy from a publish folder: postinstall order and interpreter, reuse, selection, rollback."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, SelectionError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying import DeployOptions
from envstacks.stages.deploying.deploy_record import load_state
from kits.layers import FRAMEWORK, RUNTIME, Layer, default_layers, snapshot


def _postinstall(target: Path, name: str) -> dict[str, str]:
    return json.loads((target / name / "postinstall.json").read_text())


def test_deploy_runs_postinstall_runtime_first_then_reuses(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    reporter = RecordingReporter()

    result = deploy(output, target, pm=pm, reporter=reporter)

    assert result.installed == (RUNTIME, FRAMEWORK, "app-one", "app-two@2")
    assert result.reused == () and result.refused == ()
    order = (target / "postinstall-order.txt").read_text().split()
    assert order[0] == RUNTIME and sorted(order) == sorted(result.installed)
    # Layered envs ran postinstall with the deployed runtime's interpreter (the wrapper marks it).
    assert _postinstall(target, "app-one")["via"] == str(target / RUNTIME / "bin")
    assert _postinstall(target, RUNTIME)["via"] is None
    # The sibling link resolves inside the deployment folder.
    assert (target / FRAMEWORK / "bin" / "python_").resolve() == (
        target / RUNTIME / "bin" / "python3"
    ).resolve()
    ran = subprocess.run(
        [target / FRAMEWORK / "bin" / "python_", "-c", "print(6 * 7)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "42"
    records = load_state(target)
    assert {name: record.state for name, record in records.items()} == dict.fromkeys(
        result.installed, "installed"
    )
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]

    before = snapshot(target)
    again = RecordingReporter()
    second = deploy(output, target, pm=pm, reporter=again)
    assert second.installed == ()
    assert second.reused == result.installed
    assert not [task for task in again.tasks if task.action == "unpack"]
    after = snapshot(target)
    assert after == before  # same inodes: nothing was unpacked or rewritten


def test_include_deploys_apps_with_what_they_need_once(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"

    first = deploy(
        output, target, DeployOptions(include=["app-one"]), pm=pm, reporter=RecordingReporter()
    )
    assert first.installed == (RUNTIME, FRAMEWORK, "app-one")
    assert not (target / "app-two@2").exists()

    second = deploy(
        output, target, DeployOptions(include=["app-two"]), pm=pm, reporter=RecordingReporter()
    )
    assert second.installed == ("app-two@2",)
    assert second.reused == (RUNTIME,)

    with pytest.raises(SelectionError, match=r"no published layer matches 'app-nope'"):
        deploy(
            output, target, DeployOptions(include=["app-nope"]), pm=pm, reporter=RecordingReporter()
        )


def test_deploy_from_manifest_path_and_file_url(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    manifest = output / "__venvstacks__" / "venvstacks.json"

    by_path = deploy(
        manifest,
        tmp_path / "a",
        DeployOptions(include=["cpython-*"]),
        pm=pm,
        reporter=RecordingReporter(),
    )
    assert by_path.installed == (RUNTIME,)
    by_url = deploy(
        output.as_uri(),
        tmp_path / "b",
        DeployOptions(include=["cpython-*"]),
        pm=pm,
        reporter=RecordingReporter(),
    )
    assert by_url.installed == (RUNTIME,)
    assert by_url.source == str(manifest)


def test_changed_layer_replaces_the_old_one_and_shared_layers_stay(tmp_path, publish_layers_to, pm):
    target = tmp_path / "deployed"
    deploy(publish_layers_to(tmp_path / "v1"), target, pm=pm, reporter=RecordingReporter())
    runtime_inode = (target / RUNTIME / "postinstall.py").stat().st_ino

    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"NEW": "2\n"})
    result = deploy(
        publish_layers_to(tmp_path / "v2", layers), target, pm=pm, reporter=RecordingReporter()
    )

    assert result.installed == ("app-one",)
    assert (target / "app-one" / "NEW").read_text() == "2\n"
    assert (target / RUNTIME / "postinstall.py").stat().st_ino == runtime_inode
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]


def test_recompressed_layer_is_recognised_by_its_tree_hash(tmp_path, publish_layers_to, pm):
    target = tmp_path / "deployed"
    deploy(publish_layers_to(tmp_path / "zst"), target, pm=pm, reporter=RecordingReporter())
    result = deploy(
        publish_layers_to(tmp_path / "zip", fmt="zip"), target, pm=pm, reporter=RecordingReporter()
    )
    assert result.installed == ()
    assert len(result.reused) == 4


def test_failed_postinstall_rolls_back_to_the_previous_version(tmp_path, publish_layers_to, pm):
    target = tmp_path / "deployed"
    deploy(publish_layers_to(tmp_path / "v1"), target, pm=pm, reporter=RecordingReporter())
    old_record = load_state(target)["app-one"]

    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"FAIL": ""})
    with pytest.raises(
        DeployError, match=r"(?s)postinstall\.py of layer 'app-one'.*failed on purpose"
    ):
        deploy(
            publish_layers_to(tmp_path / "v2", layers), target, pm=pm, reporter=RecordingReporter()
        )

    assert not (target / "app-one" / "FAIL").exists()  # the previous version is back
    assert (target / "app-one" / "postinstall.json").is_file()
    assert load_state(target)["app-one"] == old_record
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]


def test_folder_not_deployed_by_envstacks_is_refused_and_left_alone(
    tmp_path, publish_layers_to, pm
):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    (target / "app-one").mkdir(parents=True)
    (target / "app-one" / "mine.txt").write_text("user data")

    result = deploy(
        output, target, DeployOptions(raise_on_refusal=False), pm=pm, reporter=RecordingReporter()
    )

    assert [entry.install_target for entry in result.refused] == ["app-one"]
    assert "was not deployed by envstacks" in result.refused[0].reason
    assert (target / "app-one" / "mine.txt").read_text() == "user data"
    assert result.installed == (RUNTIME, FRAMEWORK, "app-two@2")
    with pytest.raises(DeployError, match=r"app-one.*not deployed by envstacks"):
        deploy(output, target, pm=pm, reporter=RecordingReporter())


def test_stale_temporaries_are_cleaned_up(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    stale = target / ".envstacks-tmp.deadbeef.app-one"
    (stale / "app-one").mkdir(parents=True)
    reporter = RecordingReporter()
    deploy(output, target, pm=pm, reporter=reporter)
    assert not stale.exists()


def test_moved_deployment_reruns_postinstall_without_unpacking(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    first = tmp_path / "first"
    deploy(output, first, pm=pm, reporter=RecordingReporter())
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    (moved / "postinstall-order.txt").unlink()
    reporter = RecordingReporter()

    result = deploy(output, moved, pm=pm, reporter=reporter)

    assert result.installed == () and len(result.reused) == 4
    assert not [task for task in reporter.tasks if task.action == "unpack"]
    assert (moved / "postinstall-order.txt").read_text().split()[0] == RUNTIME
    assert _postinstall(moved, "app-one")["via"] == str(moved / RUNTIME / "bin")
    assert load_state(moved)["app-one"].path == str(moved / "app-one")
    again = RecordingReporter()
    deploy(output, moved, pm=pm, reporter=again)
    assert not [task for task in again.tasks if task.action == "postinstall"]


def test_a_folder_in_the_way_is_found_before_anything_is_unpacked(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    (target / "app-one").mkdir(parents=True)
    (target / "app-one" / "mine.txt").write_text("user data")
    reporter = RecordingReporter()

    with pytest.raises(DeployError, match=r"app-one.*not deployed by envstacks"):
        deploy(output, target, pm=pm, reporter=reporter)

    assert sorted(path.name for path in target.iterdir()) == ["__venvstacks__", "app-one"]
    assert [path.name for path in (target / "__venvstacks__").iterdir()] == ["deploy.lock"]
    assert not [task for task in reporter.tasks if task.action == "unpack"]


def _damage_first_entry(output: Path) -> None:
    manifest = output / "__venvstacks__" / "venvstacks.json"
    data = json.loads(manifest.read_text())
    del data["layers"]["runtimes"][0]["archive_hashes"]
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (_damage_first_entry, r"archive_hashes: expected dict"),
        (lambda output: (output / f"{RUNTIME}.tar.zst").unlink(), RUNTIME),
    ],
    ids=["bad-manifest-entry", "missing-archive"],
)
def test_a_deploy_failing_on_its_source_leaves_no_target(
    tmp_path, publish_layers_to, pm, damage, error
):
    output = publish_layers_to(tmp_path / "dist")
    damage(output)
    target = tmp_path / "new" / "deployed"
    with pytest.raises(DeployError, match=error):
        deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert not target.parent.exists()
    # An existing target keeps what it had (here: nothing but the folder itself).
    target.mkdir(parents=True)
    with pytest.raises(DeployError, match=error):
        deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert target.is_dir()


@pytest.mark.parametrize("source", ["missing-folder", "http://127.0.0.1:9/dist"])
def test_a_source_that_cannot_be_opened_leaves_no_target(tmp_path, pm, source):
    target = tmp_path / "new" / "deployed"
    where = tmp_path / source if "://" not in source else source
    with pytest.raises(DeployError):
        deploy(where, target, pm=pm, reporter=RecordingReporter())
    assert not target.parent.exists()
