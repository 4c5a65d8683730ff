"""The three kinds of layer and how each is named: build-name prefixes, TOML and manifest tables.

The vocabulary every layer of the code shares: the spec reads ``[[runtimes]]``,
``[[frameworks]]`` and ``[[applications]]`` tables, build names carry the kind's prefix, and
a published manifest groups its layers under the same three keys.
"""

from __future__ import annotations

import enum


class LayerKind(enum.StrEnum):
    """The three kinds of layer."""

    RUNTIME = "runtime"
    FRAMEWORK = "framework"
    APPLICATION = "application"

    @property
    def prefix(self) -> str:
        """The prefix that turns a layer name into its build name."""
        return {"runtime": "", "framework": "framework-", "application": "app-"}[self.value]

    @property
    def table(self) -> str:
        """The TOML array-of-tables key for this kind (``runtimes``...)."""
        return {"runtime": "runtimes", "framework": "frameworks", "application": "applications"}[
            self.value
        ]

    @property
    def title(self) -> str:  # type: ignore[override]  # shadows str.title on purpose
        """The kind as it starts a sentence in messages (``Framework 'x' ...``)."""
        return {"runtime": "Runtime", "framework": "Framework", "application": "Application"}[
            self.value
        ]
