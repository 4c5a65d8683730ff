"""Finding and publishing shared libraries (share/venv/dynlib), on synthetic site-packages trees."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from envstacks.floor.errors import BuildError
from envstacks.published.layer_config import DYNLIB_DIR
from envstacks.stages.building.dynlib import (
    find_shared_libraries,
    is_shared_library,
    link_shared_libraries,
    translate_glob,
)
from envstacks.stages.stackspec.model import FrameworkSpec


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("libfoo.so", True),
        ("libcublas.so.12", True),
        ("libfoo.so.1.2.3", True),
        ("libgfortran-040039e1.so.5.0.0", True),
        ("libomp.dylib", True),
        ("libfoo.1.dylib", True),
        ("_speedups.so", True),  # untagged: counts as a library (as in venvstacks)
        ("_core.cpython-312-x86_64-linux-gnu.so", False),
        ("_core.cpython-313t-x86_64-linux-gnu.so", False),
        ("_core.cpython-312-darwin.so", False),
        ("_core.abi3.so", False),
        ("_core.pypy310-pp73-x86_64-linux-gnu.so", False),
        ("libfoo.so.txt", False),
        ("libfoo.so.1a", False),
        ("module.py", False),
        ("libfoo.a", False),
    ],
)
def test_which_files_are_shared_libraries(name: str, expected: bool) -> None:
    assert is_shared_library(name) is expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "/x/site-packages/a/libfoo.so", True),
        ("libfoo.so", "/x/site-packages/a/libfoo.so", True),
        ("libfoo.so", "/x/site-packages/a/xlibfoo.so", False),
        ("a/libfoo.so", "/x/site-packages/a/libfoo.so", True),
        ("a/libfoo.so", "/x/site-packages/b/a/libfoo.so", True),
        ("a/libfoo.so", "/x/site-packages/ba/libfoo.so", False),
        ("PIL/**/libpng16.*", "/x/PIL/.libs/deep/libpng16.so.16", True),
        ("PIL/**/libpng16.*", "/x/PIL/libpng16.so.16", True),
        ("PIL/**/libpng16.*", "/x/NOTPIL/libpng16.so.16", False),
        ("lib?oo.so", "/x/libfoo.so", True),
        ("lib[fg]oo.so", "/x/libgoo.so", True),
        ("lib[!fg]oo.so", "/x/libgoo.so", False),
        ("lib[!fg]oo.so", "/x/libhoo.so", True),
        ("*.so.*", "/x/a/libfoo.so.12", True),
        ("*.so.*", "/x/a/libfoo.so", False),
    ],
)
def test_dynlib_exclude_globs_match_the_end_of_the_path(
    pattern: str, path: str, matches: bool
) -> None:
    assert bool(translate_glob(pattern).search(path)) is matches


GLOB_PATTERNS = ["*", "a/*.so", "PIL/**/libpng16.*", "lib?[!x]*.so.1", "**/libz.so", "[ab]/lib*"]
GLOB_PATHS = [
    "/s/a/libfoo.so",
    "/s/PIL/x/libpng16.so",
    "/s/libab.so.1",
    "/s/.h/libxx.so.1",
    "/s/a/b/libz.so",
    "/s/PIL/libpng16.so.16",
    "/s/b/libq.so",
    "/libz.so",
]


def test_glob_translation_agrees_with_the_stdlib(python_for) -> None:
    """Python 3.13's glob.translate (what venvstacks uses) gives the same matches."""
    code = (
        "import glob, json, sys; print(json.dumps([glob.translate('/' + p, recursive=True, "
        "include_hidden=True) for p in json.loads(sys.argv[1])]))"
    )
    out = subprocess.run(
        [python_for("3.13"), "-c", code, json.dumps(GLOB_PATTERNS)],
        capture_output=True,
        text=True,
        check=True,
    )
    for pattern, theirs in zip(GLOB_PATTERNS, json.loads(out.stdout), strict=True):
        ours = translate_glob(pattern)
        for path in GLOB_PATHS:
            assert bool(ours.search(path)) == bool(re.search(theirs, path)), (pattern, path)


def layer(*exclude: str) -> FrameworkSpec:
    return FrameworkSpec(
        name="x", toml_path="tool.venvstacks.frameworks[0]", runtime="rt", dynlib_exclude=exclude
    )


def make_site(root: Path, *files: str) -> Path:
    site = root / "lib" / "python3.12" / "site-packages"
    for name in files:
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x7fELF")
    return site


def test_libraries_are_linked_relatively_and_the_folder_is_emptied(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        "torch/lib/libtorch.so",
        "nvidia/cublas/lib/libcublas.so.12",
        "torch/_C.cpython-312-x86_64-linux-gnu.so",
        "numpy.libs/libscipy_openblas64_-ff651d7f.so",
        "torch/__pycache__/libcache.so",
    )
    dynlib = tmp_path / DYNLIB_DIR
    dynlib.mkdir(parents=True)
    (dynlib / "stale.so").symlink_to("nowhere")
    links = link_shared_libraries(tmp_path, site, layer())
    assert sorted(p.name for p in dynlib.iterdir()) == [
        "libcublas.so.12",
        "libscipy_openblas64_-ff651d7f.so",
        "libtorch.so",
    ]
    assert [p.name for p in links] == sorted(p.name for p in dynlib.iterdir())
    cublas = dynlib / "libcublas.so.12"
    assert (
        os.readlink(cublas)
        == "../../../lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12"
    )
    assert cublas.resolve() == (site / "nvidia/cublas/lib/libcublas.so.12").resolve()


def test_every_ambiguity_is_reported_with_the_fix(tmp_path: Path) -> None:
    site = make_site(
        tmp_path,
        "a/libz.so.1",
        "b/libz.so.1",
        "c/libz.so.1",
        "a/libssl.so",
        "b/libssl.so",
        "a/libonly.so",
    )
    with pytest.raises(BuildError) as caught:
        link_shared_libraries(tmp_path, site, layer())
    message = caught.value.message
    assert "layer 'framework-x'" in message
    assert "libz.so.1 => ['a/libz.so.1', 'b/libz.so.1', 'c/libz.so.1']" in message
    assert "libssl.so => ['a/libssl.so', 'b/libssl.so']" in message
    assert "libonly" not in message
    assert "tool.venvstacks.frameworks[0]" in message and "dynlib_exclude" in message
    # Following the advice resolves it.
    links = link_shared_libraries(
        tmp_path, site, layer("b/libz.so.1", "c/libz.so.1", "b/libssl.so")
    )
    assert sorted(os.readlink(p).split("site-packages/")[1] for p in links) == [
        "a/libonly.so",
        "a/libssl.so",
        "a/libz.so.1",
    ]


def test_star_turns_linking_off(tmp_path: Path) -> None:
    site = make_site(tmp_path, "a/libfoo.so", "b/libbar.so.2")
    assert find_shared_libraries(site, ("*",)) == []
    assert link_shared_libraries(tmp_path, site, layer("*")) == []
