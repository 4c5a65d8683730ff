"""Wheel availability per target platform, from wheel file names (reference §3.5.3 step 5)."""

from __future__ import annotations

import pytest

from envstacks.stages.locking.wheels import availability_error, missing_platforms

GLIBC_228 = (2, 28)
MACOS_13 = (13, 0)


def _ok(wheel: str, platform: str, *, glibc=GLIBC_228, macos=MACOS_13) -> bool:
    return not missing_platforms([platform], [wheel], linux_glibc=glibc, macosx_version=macos)


@pytest.mark.parametrize(
    ("wheel", "platform", "glibc", "expected"),
    [
        ("a-1-cp312-cp312-manylinux_2_28_x86_64.whl", "linux_x86_64", (2, 28), True),
        ("a-1-cp312-cp312-manylinux_2_17_x86_64.whl", "linux_x86_64", (2, 28), True),
        ("a-1-cp312-cp312-manylinux_2_34_x86_64.whl", "linux_x86_64", (2, 28), False),
        ("a-1-cp312-cp312-manylinux_2_34_x86_64.whl", "linux_x86_64", (2, 34), True),
        ("a-1-cp312-cp312-manylinux_2_17_x86_64.whl", "linux_aarch64", (2, 28), False),
        ("a-1-cp312-cp312-manylinux2014_x86_64.whl", "linux_x86_64", (2, 17), True),
        ("a-1-cp312-cp312-manylinux2014_x86_64.whl", "linux_x86_64", (2, 12), False),
        ("a-1-cp312-cp312-manylinux2014_aarch64.whl", "linux_aarch64", (2, 28), True),
        ("a-1-cp312-cp312-manylinux1_x86_64.whl", "linux_x86_64", (2, 5), True),
        # Compressed tag sets count if any member fits.
        (
            "a-1-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
            "linux_x86_64", (2, 27), True,
        ),
        ("a-1-cp312-cp312-musllinux_1_2_x86_64.whl", "linux_x86_64", (2, 28), False),
        # Naive local builds with the exact tag are accepted.
        ("a-1-cp312-cp312-linux_x86_64.whl", "linux_x86_64", (2, 28), True),
        ("a-1-cp312-cp312-linux_x86_64.whl", "linux_aarch64", (2, 28), False),
    ],
)  # fmt: skip
def test_linux(wheel: str, platform: str, glibc: tuple[int, int], expected: bool) -> None:
    assert _ok(wheel, platform, glibc=glibc) is expected


@pytest.mark.parametrize(
    ("wheel", "platform", "macos", "expected"),
    [
        ("a-1-cp312-cp312-macosx_11_0_arm64.whl", "macosx_arm64", (13, 0), True),
        ("a-1-cp312-cp312-macosx_14_0_arm64.whl", "macosx_arm64", (13, 0), False),
        ("a-1-cp312-cp312-macosx_14_0_arm64.whl", "macosx_arm64", (14, 0), True),
        ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", "macosx_x86_64", (13, 0), True),
        ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", "macosx_arm64", (13, 0), False),
        ("a-1-cp312-cp312-macosx_10_9_universal2.whl", "macosx_arm64", (13, 0), True),
        ("a-1-cp312-cp312-macosx_10_9_universal2.whl", "macosx_x86_64", (13, 0), True),
        ("a-1-cp312-cp312-macosx_10_9_intel.whl", "macosx_x86_64", (13, 0), True),
        ("a-1-cp312-cp312-macosx_10_9_intel.whl", "macosx_arm64", (13, 0), False),
        ("a-1-cp312-cp312-macosx_arm64.whl", "macosx_arm64", (13, 0), True),
    ],
)  # fmt: skip
def test_macos(wheel: str, platform: str, macos: tuple[int, int], expected: bool) -> None:
    assert _ok(wheel, platform, macos=macos) is expected


@pytest.mark.parametrize(
    ("wheel", "platform", "expected"),
    [
        ("a-1-cp312-cp312-win_amd64.whl", "win_amd64", True),
        ("a-1-cp312-cp312-win_amd64.whl", "win_arm64", False),
        ("a-1-cp312-cp312-win_arm64.whl", "win_arm64", True),
        ("a-1-cp312-cp312-win32.whl", "win_amd64", False),
        ("a-1-py3-none-any.whl", "win_arm64", True),
        ("a-1-py3-none-any.whl", "linux_aarch64", True),
        ("a-1-py3-none-any.whl", "macosx_x86_64", True),
    ],
)  # fmt: skip
def test_windows_and_any(wheel: str, platform: str, expected: bool) -> None:
    assert _ok(wheel, platform) is expected


def test_missing_platforms_across_several_wheels() -> None:
    wheels = [
        "np-2-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "np-2-cp312-cp312-win_amd64.whl",
        "np-2-cp312-cp312-macosx_14_0_arm64.whl",
    ]
    everything = ["linux_aarch64", "linux_x86_64", "macosx_arm64", "macosx_x86_64",
                  "win_amd64", "win_arm64"]  # fmt: skip
    missing = missing_platforms(everything, wheels, linux_glibc=(2, 28), macosx_version=(13, 0))
    assert missing == ("linux_aarch64", "macosx_arm64", "macosx_x86_64", "win_arm64")


def test_availability_error_names_packages_platforms_and_fix() -> None:
    error = availability_error(
        "framework-x",
        "tool.venvstacks.frameworks[0]",
        ("linux_x86_64", "win_amd64", "win_arm64"),
        {"numpy": ("win_arm64",), "torch": ("win_amd64", "win_arm64")},
    )
    text = str(error)
    assert "numpy: no wheels available for ['win_arm64']" in text
    assert "torch: no wheels available for ['win_amd64', 'win_arm64']" in text
    assert "set tool.venvstacks.frameworks[0].platforms = ['linux_x86_64']" in text
    none_left = availability_error("x", "t", ("win_arm64",), {"numpy": ("win_arm64",)})
    assert "no target platform with wheels for all packages" in str(none_left)
