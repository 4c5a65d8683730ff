"""Entry point of app-stats: a two-sample t-test, printed as a table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tabulate
from scipy import stats


def _layer(module: object) -> str:
    path = Path(getattr(module, "__file__", "") or "").resolve()
    return next((p.parent.name for p in path.parents if p.name == "lib"), str(path))


def main() -> None:
    """Compare two seeded samples and print the statistic and where each library came from."""
    rng = np.random.default_rng(42)
    a = rng.normal(0.0, 1.0, 200)
    b = rng.normal(0.3, 1.0, 200)
    result = stats.ttest_ind(a, b)
    rows = [["t statistic", f"{result.statistic:.3f}"], ["p value", f"{result.pvalue:.2e}"]]
    print(tabulate.tabulate(rows, headers=["", "value"]))
    layers = {m.__name__: _layer(m) for m in (np, stats, tabulate)}
    if "--layers" in sys.argv:
        print(json.dumps(layers, sort_keys=True))
    else:
        for name, layer in layers.items():
            print(f"  {name:12} from {layer}")


main()
