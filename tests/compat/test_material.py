"""The compatibility suite has venvstacks' test material to read (in CI, it must).

The parametrised compatibility tests are skipped at collection when the material is absent;
this test fails instead when ``ENVSTACKS_REQUIRE_VENVSTACKS=1`` (as ``.ci/run`` sets it), so a
CI run cannot pass without the suite having run.
"""

from __future__ import annotations

from kits import upstream


def test_venvstacks_test_material_is_present() -> None:
    root = upstream.upstream()
    assert (root / "tests" / "test_cli_invocation.py").is_file()
    assert list((root / "tests" / "sample_project" / "requirements").rglob("pylock.*.toml"))
    assert (root / "examples").is_dir()
