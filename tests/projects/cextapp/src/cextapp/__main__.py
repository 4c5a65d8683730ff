"""``python -m cextapp``: print the report."""

from __future__ import annotations

from cextapp import report

print(report())
