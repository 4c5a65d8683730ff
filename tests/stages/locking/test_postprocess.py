"""Post-processing of uv's exported lock: marker pruning, shared marking, sources, local wheels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import LockError
from envstacks.stages.locking import marker_eval as markers
from envstacks.stages.locking.postprocess import Context, postprocess, render
from envstacks.stages.locking.pylock import LockedPackage, parse_pylock

HASH = {"sha256": "0" * 64}


def _wheel(name: str, tag: str = "py3-none-any") -> dict[str, Any]:
    return {"url": f"https://files.example/{name}-1-{tag}.whl", "hashes": dict(HASH)}


def _context(stacks: Any, tmp_path: Path, platforms: tuple[str, ...], **extra: Any) -> Context:
    layer = stacks.application("x", platforms=platforms)
    return Context(
        layer=layer,
        environments=markers.environments(
            platforms, implementation="cpython", python_full_version="3.12.1"
        ),
        pins=extra.pop("pins", ()),
        lock_dir=tmp_path / "requirements" / "app-x",
        export_dir=tmp_path / "_build" / "app-x_resolve",
        **extra,
    )


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("sys_platform == 'darwin'", None),
        ("sys_platform == 'win32'", "sys_platform == 'win32'"),
        ("python_version >= '3.8'", ""),
        ("platform_machine == 'AMD64'", "platform_machine == 'AMD64'"),
        ("platform_machine == 'aarch64'", None),
        ("implementation_name == 'pypy'", None),
        ("os_name == 'nt' or sys_platform == 'linux'", ""),
        ("python_full_version < '3.12.2'", ""),
        ("python_full_version >= '3.12.2'", None),
        (
            'platform_system == "Windows" and python_version < "3.13"',
            "platform_system == 'Windows' and python_version < '3.13'",
        ),
    ],
)  # fmt: skip
def test_markers_are_pruned_per_target_platform(
    stacks: Any, tmp_path: Path, marker: str, expected: str | None
) -> None:
    context = _context(stacks, tmp_path, ("linux_x86_64", "win_amd64"))
    data = {"packages": [{"name": "p", "version": "1", "marker": marker, "wheels": [_wheel("p")]}]}
    packages = postprocess(data, context)["packages"]
    if expected is None:
        assert packages == []
    else:
        assert packages[0].get("marker", "") == expected


def test_packages_provided_by_lower_layers_become_shared(stacks: Any, tmp_path: Path) -> None:
    pins = (
        LockedPackage(name="six", version="1.17.0"),
        LockedPackage(name="colorama", version="0.4.6", marker="sys_platform == 'win32'"),
        LockedPackage(
            name="only-x86", version="1", marker="platform_machine == 'x86_64' or os_name == 'nt'"
        ),
    )
    context = _context(stacks, tmp_path, ("linux_x86_64", "win_amd64"), pins=pins)
    data = {
        "packages": [
            {"name": "six", "version": "1.17.0", "index": "https://pypi.org/simple",
             "wheels": [_wheel("six")], "sdist": {"url": "https://x/six.tar.gz"}},
            {"name": "colorama", "version": "0.4.6", "marker": "sys_platform == 'win32'",
             "wheels": [_wheel("colorama")]},
            {"name": "only-x86", "version": "1", "wheels": [_wheel("only_x86")]},
            {"name": "idna", "version": "3.20", "wheels": [_wheel("idna")],
             "sdist": {"url": "https://x/idna.tar.gz"}},
        ]
    }  # fmt: skip
    text = render(postprocess(data, context), "app-x")
    assert text.startswith("# Locked requirements for app-x (DO NOT EDIT)\n")
    locked = parse_pylock(text, layer="app-x", path=tmp_path / "pylock.toml")
    by_name = {pkg.name: pkg for pkg in locked.packages}
    assert by_name["six"].shared and by_name["six"].wheels == () and by_name["six"].index is None
    assert by_name["colorama"].shared and by_name["colorama"].marker == "sys_platform == 'win32'"
    assert "(sys_platform == 'win32') and sys_platform == 'from_lower_layer'" in text
    # Covered on every target where it applies by the lower layer's conditional pin.
    assert by_name["only-x86"].shared
    assert not by_name["idna"].shared and len(by_name["idna"].wheels) == 1
    assert "sdist" not in text


def test_a_different_version_below_is_not_shared(stacks: Any, tmp_path: Path) -> None:
    pins = (LockedPackage(name="six", version="1.16.0", marker="sys_platform == 'win32'"),)
    context = _context(stacks, tmp_path, ("linux_x86_64",), pins=pins)
    data = {"packages": [{"name": "six", "version": "1.17.0", "wheels": [_wheel("six")]}]}
    assert "marker" not in postprocess(data, context)["packages"][0]


def test_local_wheels_become_relative_and_local_indexes_go(stacks: Any, tmp_path: Path) -> None:
    context = _context(stacks, tmp_path, ("linux_x86_64",))
    wheel_dir = tmp_path / "wheels"
    data = {
        "packages": [
            {"name": "loc", "version": "1", "index": wheel_dir.as_uri(),
             "wheels": [{"url": (wheel_dir / "loc-1-py3-none-any.whl").as_uri(), "hashes": HASH}]},
            {"name": "arc", "version": "2",
             "wheels": [{"path": str(tmp_path / "elsewhere" / "arc-2-py3-none-any.whl"),
                         "hashes": HASH}]},
        ]
    }  # fmt: skip
    packages = postprocess(data, context)["packages"]
    assert packages[0] == {
        "name": "loc",
        "version": "1",
        "wheels": [{"path": "../../wheels/loc-1-py3-none-any.whl", "hashes": HASH}],
    }
    assert packages[1]["wheels"][0]["path"] == "../../elsewhere/arc-2-py3-none-any.whl"


def test_missing_wheels_fail_with_the_platforms_that_work(stacks: Any, tmp_path: Path) -> None:
    context = _context(stacks, tmp_path, ("linux_x86_64", "win_amd64", "win_arm64"))
    data = {
        "packages": [
            {"name": "fine", "version": "1", "wheels": [_wheel("fine")]},
            {"name": "winless", "version": "1",
             "wheels": [_wheel("winless", "cp312-cp312-manylinux_2_17_x86_64"),
                        _wheel("winless", "cp312-cp312-win_amd64")]},
            {"name": "sdist-only", "version": "1", "sdist": {"url": "https://x/s.tar.gz"}},
        ]
    }  # fmt: skip
    with pytest.raises(LockError) as caught:
        postprocess(data, context)
    text = str(caught.value)
    assert "winless: no wheels available for ['win_arm64']" in text
    assert "sdist-only: no wheels available for ['linux_x86_64', 'win_amd64', 'win_arm64']" in text
    assert "fine" not in text
    assert "no target platform with wheels for all packages" in text


def test_the_project_is_recorded_without_pin(stacks: Any, tmp_path: Path) -> None:
    context = _context(
        stacks, tmp_path, ("linux_x86_64",), project="my-app", project_requires=("six>=1",)
    )
    data = {
        "packages": [
            {"name": "my_app", "version": "0.3.dev4",
             "archive": {"path": "/abs/my_app-0.3.dev4-py3-none-any.whl", "hashes": HASH}},
            {"name": "six", "version": "1.17.0", "wheels": [_wheel("six")]},
        ]
    }  # fmt: skip
    text = render(postprocess(data, context), "app-x")
    assert "0.3.dev4" not in text and "/abs/" not in text
    locked = parse_pylock(text, layer="app-x", path=tmp_path / "pylock.toml")
    assert locked.project is not None
    assert locked.project.name == "my_app" and locked.project.version is None
    assert locked.project.requires_dist == ("six>=1",)
    assert [pkg.name for pkg in locked.installed] == ["six"]
