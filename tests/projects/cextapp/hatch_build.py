"""Compile the C extension for the Python that runs the build (the usual custom-hook way)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    """Build ``cextapp/_speed<EXT_SUFFIX>`` and make the wheel platform-specific."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        source = Path(self.root) / "src" / "cextapp" / "_speed.c"
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        out = Path(self.directory) / ".cextapp-build" / f"_speed{suffix}"
        out.parent.mkdir(parents=True, exist_ok=True)
        compiler = os.environ.get("CC") or shutil.which("cc") or "gcc"
        include = sysconfig.get_paths()["include"]
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", f"-I{include}", str(source), "-o", str(out)],
            check=True,
        )
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"][str(out)] = f"cextapp/{out.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(Path(self.directory) / ".cextapp-build", ignore_errors=True)
