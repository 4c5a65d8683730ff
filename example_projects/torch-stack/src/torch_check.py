"""Entry point of app-torch-check: a CPU computation, CUDA's status, where CUDA was loaded from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

LIBRARIES = ("libcudart", "libcublas")


def loaded_from() -> dict[str, str]:
    """Each CUDA library this process mapped (``/proc/self/maps``) and the file it came from."""
    found: dict[str, str] = {}
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        path = Path(fields[5])
        if path.name.startswith(LIBRARIES) and ".so" in path.name:
            found.setdefault(path.name, str(path))
    return found


def layer_of(path: str) -> str:
    """The layer folder holding a file: ``<layer>/lib/pythonX.Y/site-packages/...``."""
    parents = Path(path).parents
    return next((p.parents[2].name for p in parents if p.name == "site-packages"), path)


def main() -> int:
    """Multiply two seeded matrices on the CPU, then report CUDA and its libraries' layers."""
    torch.manual_seed(0)
    a = torch.randn(256, 256)
    product = a @ a.T
    print(f"torch {torch.__version__}: trace of A @ A.T = {product.trace().item():.1f}")
    print(f"torch.cuda.is_available() = {torch.cuda.is_available()}")
    libraries = loaded_from()
    layers = {name: layer_of(path) for name, path in sorted(libraries.items())}
    for name, path in sorted(libraries.items()):
        print(f"{name} loaded from {path}")
    if "--json" in sys.argv:
        print(json.dumps({"torch": layer_of(torch.__file__ or ""), "libraries": layers}))
    missing = [prefix for prefix in LIBRARIES if not any(n.startswith(prefix) for n in libraries)]
    outside = {n: layer for n, layer in layers.items() if not layer.startswith("framework-cuda")}
    if missing or outside:
        print(f"not loaded: {missing}; loaded outside framework-cuda: {outside}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
