"""Locking: the only code that runs uv to resolve layers, and the lock files it writes and reads.

Public API (used by the orchestrator and the build and publish steps):

* :func:`lock_states` - the lock state of every enabled layer, without running uv;
* :func:`lock_layer` - lock one layer (uv lock + uv export, post-processed to a PEP 751 lock);
* :func:`read_lock` - the parsed lock of a layer.
"""

from __future__ import annotations

from envstacks.lock.locker import LockOptions, LockResult, lock_layer, read_lock
from envstacks.lock.pylock import LockedLayer, LockedPackage, LockedWheel
from envstacks.lock.validity import LockState, lock_states

__all__ = [
    "LockOptions",
    "LockResult",
    "LockState",
    "LockedLayer",
    "LockedPackage",
    "LockedWheel",
    "lock_layer",
    "lock_states",
    "read_lock",
]
