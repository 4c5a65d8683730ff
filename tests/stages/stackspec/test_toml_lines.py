"""The line a spec error points at: every kind of TOML key, table and array the scanner meets."""

from __future__ import annotations

import tomllib

import pytest

from envstacks.stages.stackspec.toml_lines import line_of, path_parts

TEXT = r'''# a comment with [brackets] and "quotes"
[tool.venvstacks]
build-dir = "x"   # comment

[[tool.venvstacks.runtimes]]
name = "a"

[[tool.venvstacks.runtimes]]
name = "b"
requirements = [
  "x",  # a comment ] with a bracket
  'y',
  """z""""",
  """
  multi ]
  line""",
]
index_overrides = { a = 1, b = { c = [1, 2] } }
dotted.key.here = 2024-01-01 10:00:00
"quoted.key" = 'c:\\path'
  spaced . "part" = true

[[tool.venvstacks.runtimes.sub]]
x = 1

[[tool.venvstacks.runtimes]]
name = "c"

[[tool.venvstacks.runtimes.sub]]
x = 2

[[tool.venvstacks.runtimes.sub]]
x = 3

[tool.venvstacks.runtimes.extra]
q = 'a'

[tool.other]
tables = [
  { name = "one" },
  { name = "two", deep = [[1], [2, [3]]] },
]
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tool.venvstacks", 2),
        ("tool.venvstacks.build-dir", 3),
        ("tool.venvstacks.runtimes", 5),
        ("tool.venvstacks.runtimes[0]", 5),
        ("tool.venvstacks.runtimes[1].name", 9),
        ("tool.venvstacks.runtimes[1].requirements", 10),
        ("tool.venvstacks.runtimes[1].requirements[1]", 12),
        ("tool.venvstacks.runtimes[1].requirements[2]", 13),
        ("tool.venvstacks.runtimes[1].requirements[3]", 14),
        ("tool.venvstacks.runtimes[1].index_overrides.a", 18),
        ("tool.venvstacks.runtimes[1].index_overrides.b.c[1]", 18),
        ("tool.venvstacks.runtimes[1].dotted.key.here", 19),
        ('tool.venvstacks.runtimes[1]."quoted.key"', 20),
        ("tool.venvstacks.runtimes[1].spaced.part", 21),
        ("tool.venvstacks.runtimes[1].sub[0].x", 24),
        ("tool.venvstacks.runtimes[2].name", 27),
        ("tool.venvstacks.runtimes[2].sub[0].x", 30),
        ("tool.venvstacks.runtimes[2].sub[1]", 32),
        ("tool.venvstacks.runtimes[2].sub[1].x", 33),
        ("tool.venvstacks.runtimes[2].extra.q", 36),
        ("tool.other.tables[1].name", 41),
        ("tool.other.tables[1].deep[1][1][0]", 41),
        # Not written: the nearest written parent.
        ("tool.venvstacks.runtimes[2].requirements", 26),
        ("tool.venvstacks.runtimes[1].index_overrides.z", 18),
        ("tool.venvstacks.frameworks[0].runtime", 2),
    ],
)
def test_line_of_each_kind_of_path(path: str, line: int) -> None:
    tomllib.loads(TEXT)  # the scanner only ever sees text tomllib accepted
    assert line_of(TEXT, path) == line


def test_no_line_for_the_top_level_or_what_is_not_in_the_file() -> None:
    assert line_of(TEXT, "") is None
    assert line_of(TEXT, "frameworks[0]") is None
    assert line_of("name = [\n", "name[0]") is None, "text the scanner cannot follow: no line"


def test_path_parts_reads_what_toml_path_writes() -> None:
    assert path_parts('tool.venvstacks.frameworks[2]."a.b\\"c"[0]') == (
        "tool",
        "venvstacks",
        "frameworks",
        2,
        'a.b"c',
        0,
    )
    assert path_parts("tool..x") is None
