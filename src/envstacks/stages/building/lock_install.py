"""Install a layer's PEP 751 lock into its environment with uv (sync semantics), and the project.

The lock already says exactly what the layer holds: packages that lower layers provide carry
the unmatchable marker ``sys_platform == 'from_lower_layer'``, so uv skips them. We run
``uv pip sync`` rather than venvstacks' ``uv pip install``, so a package dropped from the lock
does not linger in an existing build environment until ``--clean``. Packages found through
the chaining ``.pth`` hook are not in the environment's own ``site-packages`` and uv leaves
them alone (tested).

A lock that installs nothing is synced as the empty set. venvstacks writes the lock of a layer
with ``requirements = []`` without a ``packages`` key, which uv refuses to read ("missing field
`packages`"), so such a layer is synced from an equivalent lock with ``packages = []``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from envstacks.floor import platforms
from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.floor.uvrun import run_uv
from envstacks.stages.locking import LockedLayer
from envstacks.stages.stackspec.model import LayerSpec


def _uv_pip(
    command: str,
    layer: LayerSpec,
    python: Path,
    args: list[str | Path],
    *,
    platform: str,
    reporter: Reporter,
    what: str,
) -> None:
    """Run ``uv pip <command>`` on the environment of ``python`` for the target ``platform``."""
    env: dict[str, str | None] = {}
    if platforms.PLATFORMS[platform].is_macos:
        # uv has no setting for the macOS target (uv#9837); it reads this variable.
        env["MACOSX_DEPLOYMENT_TARGET"] = layer.macosx_target
    run_uv(
        [
            "pip",
            command,
            "--python",
            python,
            # Choose wheels for the declared target (e.g. manylinux_2_28 from linux_target), not
            # for whatever the build machine's glibc would allow.
            "--python-platform",
            platforms.uv_python_platform(platform, linux_glibc=layer.linux_glibc),
            # The lock is the whole truth: no user or system uv.toml may add indexes or
            # settings to an install.
            "--no-config",
            *args,
        ],
        reporter=reporter,
        what=what,
        error=BuildError,
        env=env,
    )


def sync_lock(
    layer: LayerSpec, python: Path, locked: LockedLayer, *, platform: str, reporter: Reporter
) -> None:
    """Make the environment of ``python`` hold exactly what the lock lists for ``platform``.

    Raises:
        BuildError: uv failed; the message quotes uv's explanation.
    """
    with _readable_by_uv(locked) as pylock:
        _uv_pip(
            "sync",
            layer,
            python,
            [
                # pylock.toml input is a preview feature in uv 0.8+; opting in silences the
                # warning it otherwise prints on every install.
                "--preview-features",
                "pylock",
                # Only wheels are locked; never fall back to building an sdist here.
                "--no-build",
                # A layer whose packages all come from lower layers installs nothing.
                "--allow-empty-requirements",
                pylock,
            ],
            platform=platform,
            reporter=reporter,
            what=f"install the lock of layer '{layer.build_name}' ({locked.path})",
        )


@contextmanager
def _readable_by_uv(locked: LockedLayer) -> Iterator[Path]:
    """The lock's path, or for a lock with no package an empty lock uv can read (docstring)."""
    if locked.packages:
        yield locked.path
        return
    lines = ['lock-version = "1.0"', 'created-by = "envstacks"']
    if locked.requires_python:
        lines.append(f"requires-python = {json.dumps(locked.requires_python)}")
    lines.append("packages = []")
    with tempfile.TemporaryDirectory(prefix="envstacks-empty-lock-") as folder:
        # uv reads only files named pylock.toml or pylock.<name>.toml.
        empty = Path(folder) / "pylock.toml"
        empty.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield empty


def install_wheel(
    layer: LayerSpec, python: Path, wheel: Path, *, platform: str, reporter: Reporter
) -> None:
    """Install one wheel (the project's own) into the environment without its dependencies.

    Raises:
        BuildError: uv failed.
    """
    _uv_pip(
        "install",
        layer,
        python,
        [
            # The dependencies come from the layer's lock, installed just before.
            "--no-deps",
            # The wheel is rebuilt from the working tree each time: replace what is there even
            # if the version string did not change.
            "--reinstall",
            wheel,
        ],
        platform=platform,
        reporter=reporter,
        what=f"install the project wheel {wheel.name} into layer '{layer.build_name}'",
    )
