"""Layer-like folders of real Python modules to byte-compile: a few of their own, some stdlib."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def make_module_layer(
    root: Path, python: Path, version: str, modules: Mapping[str, str], stdlib: Sequence[str]
) -> Path:
    """``root/lib/pythonX.Y/site-packages`` with ``modules`` and a slice of the stdlib."""
    site = root / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    for name, text in modules.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    library = Path(
        subprocess.check_output(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
            text=True,
        ).strip()
    )
    for name in stdlib:
        source = library / name
        if source.is_dir():
            shutil.copytree(source, site / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, site / name)
    return root


def pyc_files(root: Path) -> dict[str, bytes]:
    """Every pyc file under ``root``: relative path -> bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.pyc"))}
