"""The registry options of the Hatch target (``push-to``...) and of PDM (``publish --to``, push).

Both run end to end in subprocesses against a real distribution registry on 127.0.0.1
(tests/kits/registry.py); what they pushed is deployed with ``envstacks deploy oci://`` and
run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kits.projects import PROJECTS

RunTool = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.network


def _deploy_and_run(url: str, tmp_path: Path, run_tool: RunTool) -> str:
    target = tmp_path / "deployed"
    run_tool("envstacks", ["deploy", url, "--target", str(target)], cwd=tmp_path)
    ran = subprocess.run(
        [str(target / "app-hello" / "bin" / "python"), "-m", "stackapp"],
        capture_output=True,
        text=True,
        check=True,
    )
    return ran.stdout


def test_hatch_build_target_pushes_to_a_registry(
    stackapp: Path, run_tool: RunTool, tmp_path: Path, registry
) -> None:
    pyproject = stackapp / "pyproject.toml"
    url = registry.url("team/stackapp", "1.0")
    text = pyproject.read_text(encoding="utf-8").replace('["envstacks @ ', '["envstacks[oci] @ ')
    text = text.replace(
        "[tool.hatch.build.targets.venvstacks]\n",
        f'[tool.hatch.build.targets.venvstacks]\npush-to = "{url}"\n'
        'push-mount-from = ["team/base"]\n',
    )
    pyproject.write_text(text, encoding="utf-8")
    built = run_tool("hatch", ["build", "-t", "venvstacks"], cwd=stackapp)
    assert f"pushed to {url}" in built.stderr + built.stdout
    # Each blob was first asked for from team/base (which holds none), then uploaded.
    mounts = [r for r in registry.requests() if r[0] == "POST" and "from=team%2Fbase" in r[1]]
    assert mounts
    assert "hello from stackapp" in _deploy_and_run(url, tmp_path, run_tool)


def test_pdm_publish_to_a_registry(
    stackapp_plain: Path,
    tmp_path: Path,
    run_tool: RunTool,
    python_for: Callable[[str], Path],
    registry,
) -> None:
    project = stackapp_plain
    run_tool("pdm", ["use", "-f", str(python_for("3.12"))], cwd=project)
    run_tool("pdm", ["venvstacks", "build", "--lock-if-needed"], cwd=project)
    url = registry.url("stackapp", "2.0")
    out = tmp_path / "published"
    published = run_tool(
        "pdm", ["venvstacks", "publish", "--output-dir", str(out), "--to", url], cwd=project
    )
    assert f"pushed: {url} for" in published.stdout
    assert "hello from stackapp" in _deploy_and_run(url, tmp_path, run_tool)
    # The folder pushed again, to a release repository: every blob mounted, none uploaded.
    release = registry.url("stackapp-release", "2.0")
    pushed = run_tool(
        "pdm", ["venvstacks", "push", str(out), "--to", release, "--json"], cwd=project
    )
    summary = json.loads(pushed.stdout)
    assert {blob["mounted_from"] for blob in summary["blobs"]} == {"stackapp"}
    assert not any(blob["uploaded"] for blob in summary["blobs"])


@pytest.mark.parametrize(
    ("options", "attribute", "expected"),
    [
        ({"push-to": "oci://ghcr.io/acme/stack:1.0"}, "push_to", "oci://ghcr.io/acme/stack:1.0"),
        ({}, "push_to", None),
        ({"push-insecure": True}, "push_insecure", True),
        ({}, "push_insecure", False),
        ({"delta-from": ["dist/previous"]}, "delta_from", ("dist/previous",)),
        ({}, "delta_from", ()),
        ({"push-mount-from": ["acme/base"]}, "push_mount_from", ("acme/base",)),
        ({}, "push_mount_from", ()),
    ],
)
def test_hatch_registry_options(tmp_path: Path, options, attribute, expected) -> None:
    assert getattr(_builder(tmp_path, options).config, attribute) == expected


@pytest.mark.parametrize(
    ("options", "attribute", "message"),
    [
        ({"push-to": "ghcr.io/acme/stack"}, "push_to", "must be an oci:// reference"),
        ({"push-to": 3}, "push_to", "must be an oci://REGISTRY/REPOSITORY:TAG string"),
        ({"push-insecure": "yes"}, "push_insecure", "must be a boolean"),
        ({"delta-from": "dist/previous"}, "delta_from", "must be an array of strings"),
        ({"push-mount-from": "acme/base"}, "push_mount_from", "must be an array of strings"),
    ],
)
def test_bad_hatch_registry_options_name_the_field(
    tmp_path: Path, options, attribute, message
) -> None:
    from envstacks.floor.errors import SpecError

    with pytest.raises(SpecError) as caught:
        getattr(_builder(tmp_path, options).config, attribute)
    key = next(iter(options))
    assert caught.value.message.startswith(
        f"Field `tool.hatch.build.targets.venvstacks.{key}` {message}"
    )


def _builder(tmp_path: Path, options: dict):  # type: ignore[no-untyped-def]
    import json

    from envstacks.frontends.integrations.hatch_plugins.build_target import VenvstacksBuilder

    text = (PROJECTS / "stackapp" / "pyproject.toml").read_text()
    lines = [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    text = text.replace('dependencies = ["envstacks"]', "\n".join(lines))
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    return VenvstacksBuilder(str(tmp_path))
