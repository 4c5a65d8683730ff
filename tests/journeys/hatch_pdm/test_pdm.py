"""``pdm venvstacks lock / build / publish`` end to end, in subprocesses with isolated PDM state.

The project (``tests/projects/stackapp``) ships itself in its application layer, so the run
also proves that PDM's builder makes the project's wheel for the lock and the build.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

RunTool = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.network


def test_lock_build_publish(
    stackapp_plain: Path,
    tmp_path: Path,
    run_tool: RunTool,
    host_env: Mapping[str, str],
    python_for: Callable[[str], Path],
) -> None:
    project = stackapp_plain
    python_for("3.12")  # the local runtime's interpreter must be there
    # PDM's defaults (python.use_venv on), and no interpreter chosen for the project: the
    # project's wheel is built with the runtime layer's interpreter, so PDM needs no project
    # environment and must not make one.
    config = Path(host_env["PDM_CONFIG_FILE"])
    config.write_text(config.read_text().replace("[python]\nuse_venv = false\n", ""))

    locked = run_tool("pdm", ["venvstacks", "lock"], cwd=project)
    assert not (project / ".venv").exists() and not (project / ".pdm-python").exists()
    assert "locked: app-hello" in locked.stdout
    for name in ("cpython-3.12", "framework-six", "app-hello"):
        assert (project / "requirements" / name / f"pylock.{name.replace('.', '_')}.toml").is_file()

    built = run_tool("pdm", ["venvstacks", "build"], cwd=project)
    assert "built: app-hello" in built.stdout
    # The same start, end and summary lines as the CLI and Hatch print without a terminal.
    lines = built.stderr.splitlines()
    assert "framework-six: build (clean)..." in lines
    assert any(line.startswith("framework-six: build (clean): done in ") for line in lines)
    # A build ends with a dry-run publish, as venvstacks' does.
    assert lines[-2].startswith("done in "), lines
    assert lines[-2].endswith(": 3 layers built; 3 archives would be written"), lines
    quiet = run_tool("pdm", ["-q", "venvstacks", "build"], cwd=project)
    assert (quiet.stdout, quiet.stderr) == ("", "")
    # The lock built the project's wheel; the build reuses it (nothing it is made from changed).
    assert "built the project's wheel stackapp-0.1.0-py3-none-any.whl" in locked.stderr
    assert "built the project's wheel" not in built.stderr
    assert "the project's wheel stackapp-0.1.0-py3-none-any.whl for cpython-3.12 is up to date" in (
        built.stderr
    )
    assert "next: pdm venvstacks publish" in built.stderr

    out = tmp_path / "published"
    published = run_tool("pdm", ["venvstacks", "publish", "--output-dir", str(out)], cwd=project)
    assert "manifest: __venvstacks__/venvstacks.json" in published.stdout
    manifest = json.loads((out / "__venvstacks__" / "venvstacks.json").read_text())
    archives = sorted(
        layer["archive_name"] for kind in manifest["layers"].values() for layer in kind
    )
    assert archives == ["app-hello.tar.zst", "cpython-3.12.tar.zst", "framework-six.tar.zst"]
    assert all((out / name).is_file() for name in archives)
