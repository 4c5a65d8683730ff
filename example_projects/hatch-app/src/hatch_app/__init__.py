"""A tiny application whose code ships in its own envstacks layer, on an attrs framework layer."""

from __future__ import annotations

import sys

import attrs


@attrs.frozen
class Greeting:
    """Who greets whom."""

    sender: str
    to: str = "world"

    def text(self) -> str:
        """The greeting as a line of text."""
        return f"hello {self.to}, from {self.sender}"


def main() -> None:
    """Print a greeting and where the application and its framework were loaded from."""
    print(Greeting(sender="hatch-app").text())
    print(f"  python: {sys.executable}")
    print(f"  hatch_app: {__file__}")
    print(f"  attrs {attrs.__version__}: {attrs.__file__}")
