"""docs/migrating.md shows, for each spec envstacks refuses where venvstacks does not, its error.

Every ```toml block of the page's "Where envstacks is stricter" section that a ```text block
follows is loaded as a whole ``venvstacks.toml`` (with the empty files a ``# files:`` comment
names), and must be refused with exactly that text (the ``error:`` and ``hint:`` lines the
command line prints), ``/path/to`` standing for its folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import load

PAGE = Path(__file__).parents[2] / "docs" / "migrating.md"
SECTION = "## Where envstacks is stricter"


def _examples() -> list[tuple[str, str]]:
    text = PAGE.read_text("utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```toml\n(.*?)```\n\n```text\n(.*?)\n```", section, flags=re.S)
    return [(spec, error) for spec, error in pairs]


def test_the_page_shows_every_refusal_with_its_error() -> None:
    assert len(_examples()) >= 15


@pytest.mark.parametrize(("spec", "error"), _examples(), ids=lambda value: value[:40])
def test_each_documented_error_is_envstacks_error(spec: str, error: str, tmp_path: Path) -> None:
    files = re.match(r"# files: (.*)\n", spec)
    for name in files.group(1).split() if files else ():
        (tmp_path / name).write_text("")
    path = tmp_path / "venvstacks.toml"
    path.write_text(spec, encoding="utf-8")
    with pytest.raises(SpecError) as refused:
        load(path)
    shown = f"error: {refused.value.message}\nhint: {refused.value.hint}"
    assert shown.replace(str(tmp_path), "/path/to") == error
