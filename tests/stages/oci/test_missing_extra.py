"""Without the ``oci`` extra, the hint says how to add it, spelt as each front-end's docs say."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envstacks.floor.errors import MissingExtraError
from envstacks.stages.oci.transport import load_urllib3

DOCS = Path(__file__).parents[3] / "docs"


def test_the_hint_matches_the_documented_hatch_and_pdm_spellings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "urllib3", None)  # as if the extra were not installed
    with pytest.raises(MissingExtraError) as caught:
        load_urllib3()
    hint = caught.value.hint or ""
    assert "pip install 'envstacks[oci]'" in hint
    # The Hatch build target gets its packages from the target's `dependencies` (hatch.md,
    # registries.md), not from a `requires` key.
    hatch = 'dependencies = ["envstacks[oci]"] in [tool.hatch.build.targets.venvstacks]'
    assert hatch in hint
    assert "requires" not in hint
    registries = (DOCS / "registries.md").read_text(encoding="utf-8")
    assert '[tool.hatch.build.targets.venvstacks]\ndependencies = ["envstacks[oci]"]' in registries
    assert "the target's `dependencies` need `envstacks[oci]`" in (DOCS / "hatch.md").read_text(
        encoding="utf-8"
    )
    assert "pdm self add 'envstacks[oci]'" in hint
