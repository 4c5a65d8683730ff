"""venvstacks' lock-failure specs fail to lock in the layer upstream's tests expect, saying why.

``EXPECTED_LOCK_FAILURES`` (read from upstream's ``test_stack_specs.py``) names, for each
``stack_specs/lock_failure_*.toml``, the layer whose lock must fail: requirements that
contradict each other within a layer, or a layer's requirements against its lower layer's pins.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kits import upstream

from .conftest import Envstacks

pytestmark = pytest.mark.network


def _cases() -> list[object]:
    if not (upstream.UPSTREAM / "tests").is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no {upstream.UPSTREAM}"))]
    expected = upstream.module_value("test_stack_specs.py", "EXPECTED_LOCK_FAILURES")
    return [pytest.param(name, expected[name], id=name) for name in sorted(expected)]


@pytest.mark.parametrize(("name", "expected"), _cases())
def test_the_expected_layer_fails_to_lock(
    name: str, expected: str, tmp_path: Path, local_versions: dict[str, str], envstacks: Envstacks
) -> None:
    source = upstream.upstream() / "tests" / "stack_specs" / name
    spec = tmp_path / name
    spec.write_text(upstream.localize_spec(source.read_text("utf-8"), local_versions))
    layer = re.search(r"'([^']+)'", expected)
    assert layer is not None, expected
    failed = envstacks("lock", spec, check=False)
    assert failed.returncode == 1
    message = failed.stderr
    assert f"error: Layer {layer.group(0)}: no set of packages satisfies" in message, message
    assert "numpy" in message and "Traceback" not in message
    shutil.rmtree(tmp_path / "_build", ignore_errors=True)
