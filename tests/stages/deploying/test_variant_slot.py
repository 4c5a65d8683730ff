"""The slot link of a framework's chosen variant: atomic, a clear error where it cannot be made."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError
from envstacks.stages.deploying.variant_choice import VariantChoice, link_slot


def _choice() -> VariantChoice:
    return VariantChoice(
        framework="accel",
        variant="gpu",
        layer_name="framework-accel@gpu",
        install_target="framework-accel@gpu",
        slot="framework-accel",
        reason="chosen",
    )


def test_the_slot_links_to_the_chosen_variant(tmp_path: Path) -> None:
    (tmp_path / "framework-accel@gpu").mkdir()
    assert link_slot(tmp_path, _choice())
    assert (tmp_path / "framework-accel").readlink() == Path("framework-accel@gpu")
    assert not link_slot(tmp_path, _choice())  # already linked


def test_a_file_system_without_symlinks_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link refused by the file system (EPERM, as on Windows without the privilege).

    Stand-in: no file system without symbolic links can be mounted here, so the link fails
    as it would there.
    """

    def refuse(self: Path, target: object, target_is_directory: bool = False) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    with pytest.raises(DeployError, match="cannot link the variant slot") as caught:
        link_slot(tmp_path, _choice())
    assert caught.value.hint and "symbolic links" in caught.value.hint
    assert list(tmp_path.iterdir()) == []  # no temporary left
