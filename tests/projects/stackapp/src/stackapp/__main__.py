"""``python -m stackapp``: print the message."""

from __future__ import annotations

from stackapp import message

print(message())
