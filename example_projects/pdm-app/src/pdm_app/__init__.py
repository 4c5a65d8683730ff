"""A tiny application whose code ships in its own envstacks layer, on a tabulate framework layer."""

from __future__ import annotations

import sys

import tabulate


def main() -> None:
    """Print a table of where the application and its framework were loaded from."""
    rows = [
        ("python", sys.executable),
        ("pdm_app", __file__),
        (f"tabulate {tabulate.__version__}", tabulate.__file__),
    ]
    print("hello from pdm-app")
    print(tabulate.tabulate(rows, headers=["module", "loaded from"]))
