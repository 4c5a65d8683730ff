"""The fixture application: says where it and its framework package were loaded from."""

from __future__ import annotations

import six

GREETING = "hello from stackapp"


def message() -> str:
    """One line naming the greeting, this module's file and six's file."""
    return f"{GREETING} | stackapp={__file__} | six={six.__file__}"
