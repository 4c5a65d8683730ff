"""Settings read from environment variables, checked: a value envstacks cannot use is an error.

A setting that is silently ignored is worse than none (``ENVSTACKS_LOCK_TIMEOUT=abc`` once made
a run wait forever), so every variable envstacks reads for a number goes through here and a
bad value stops the run with a message naming the variable, the value and what it accepts.
"""

from __future__ import annotations

import math
import os

from envstacks.floor.errors import SettingError

__all__ = ["HTTP_TIMEOUT_VARIABLE", "http_timeout", "seconds", "whole_number"]

#: Seconds a download may go without receiving a byte before it fails (uv's ``UV_HTTP_TIMEOUT``
#: and pip's ``--timeout`` play the same part).
HTTP_TIMEOUT_VARIABLE = "ENVSTACKS_HTTP_TIMEOUT"
#: Its default: long enough for a slow registry's first byte, short enough to notice a stall.
DEFAULT_HTTP_TIMEOUT = 60.0


def seconds(name: str, *, default: float | None, positive: bool = False) -> float | None:
    """The seconds the variable ``name`` holds (``default`` when it is unset or empty).

    ``inf`` means no bound (``None``).

    Raises:
        SettingError: the value is not a number of seconds (0 or more; more than 0 when
            ``positive``).
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if math.isnan(number) or number < 0 or (positive and number == 0):
        least = "more than 0" if positive else "0 or more"
        raise SettingError(
            f"environment variable {name}={value!r}: not a number of seconds ({least})",
            hint=f"set {name} to a number such as 30 (or inf for no bound), or unset it",
        )
    return None if math.isinf(number) else number


def whole_number(name: str, *, default: int, unit: str) -> int:
    """The whole number (0 or more) of ``unit`` the variable ``name`` holds (``default`` if unset).

    Raises:
        SettingError: the value is not a whole number of ``unit``, 0 or more.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdecimal():
        raise SettingError(
            f"environment variable {name}={value!r}: not a whole number of {unit} (0 or more)",
            hint=f"set {name} to a number such as {default}, or unset it",
        )
    return int(value)


def http_timeout() -> float | None:
    """Seconds a download may stall (:data:`HTTP_TIMEOUT_VARIABLE`; ``None``: no bound)."""
    return seconds(HTTP_TIMEOUT_VARIABLE, default=DEFAULT_HTTP_TIMEOUT, positive=True)
