"""README.md: what envstacks is first, then its two commands, then figures the docs measured.

The README opens with a sentence or two saying what envstacks is, then exactly two commands
(set up and run the example; run the test suite), unchanged. Its "Why envstacks" section
cites measured figures: each one must be on the page it links to, so that no figure is
invented or outlives the measurement it came from.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")

#: The README's two commands, exactly (the CI runs the first, and the journey in
#: tests/journeys/test_docs_snippets.py runs it as a reader would).
COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q . && cd "
    "example_projects/sklearn-stack && envstacks lock --if-needed && envstacks build && "
    "envstacks publish && rm -rf _deploy && envstacks deploy dist/venvstacks --target _deploy "
    "&& _deploy/app-classify/bin/python -m classify\n",
    "python3 -m venv .venv-tox && .venv-tox/bin/pip install -q tox tox-uv && .venv-tox/bin/tox p\n",
)
#: A measured figure: a ratio, a share or a size (``8.6-11.5`` and the times sign, ``0.03%``,
#: ``62.4 MB``).
_FIGURE = re.compile(r"\d[\d.,]*(?:-\d[\d.,]*)?(?:\u00d7|%| MB)")
_LINK = re.compile(r"\]\((docs/[a-z-]+\.md)(?:#[a-z-]+)?\)")


def test_it_opens_with_what_envstacks_is_then_the_two_commands() -> None:
    title, opening, rest = README.split("\n\n", 2)
    assert title == "# envstacks"
    assert opening.startswith("**envstacks** ")
    assert "```" not in opening and len(re.findall(r"\.\s", opening + " ")) <= 2
    blocks = re.findall(r"```sh\n(.*?)```", rest, flags=re.DOTALL)
    assert tuple(blocks[:2]) == COMMANDS


def test_why_envstacks_compares_and_cites_figures_from_the_docs() -> None:
    section = README.split("## Why envstacks", 1)[1].split("\n## ", 1)[0]
    for tool in ("conda-pack", "pex", "shiv", "PyApp", "venvstacks 0.8"):
        assert tool in section
    assert "Linux only today" in section and "untested" in section
    bullets = re.split(r"\n- ", section.split("Measured", 1)[1].split("Honest limits", 1)[0])[1:]
    assert len(bullets) >= 3
    checked = 0
    for bullet in bullets:
        pages = _LINK.findall(bullet)
        assert pages, f"a measured figure without its source: {bullet!r}"
        text = "".join((REPO / page).read_text(encoding="utf-8") for page in pages)
        for figure in _FIGURE.findall(bullet):
            assert figure in text, f"{figure} is not on {pages}"
            checked += 1
    assert checked >= 8
