"""Locking: the only code that runs uv to resolve layers, and the lock files it writes and reads.

Public API (used by the orchestrator and the build and publish steps):

* :func:`lock_states` - the lock state of every enabled layer, without running uv; compute
  it once per session and pass it on (:func:`lock_layers` keeps it up to date);
* :func:`lock_layers` - lock the requested layers lowest first (uv lock + uv export,
  post-processed to a PEP 751 lock); :func:`lock_layer` locks one;
* :func:`read_lock` - the parsed lock of a layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.stages.locking.locker import (
        LockRequest,
        LockResult,
        PythonFor,
        lock_layer,
        lock_layers,
    )
    from envstacks.stages.locking.pylock import LockedLayer, LockedPackage, LockedWheel, read_lock
    from envstacks.stages.locking.resolve import LockOptions
    from envstacks.stages.locking.validity import LockState, lock_states

#: Public name -> the submodule that defines it (loaded on first use; see
#: envstacks.floor.lazy_face).
FACE = {
    "LockOptions": "resolve",
    "LockRequest": "locker",
    "LockResult": "locker",
    "LockState": "validity",
    "LockedLayer": "pylock",
    "LockedPackage": "pylock",
    "LockedWheel": "pylock",
    "PythonFor": "locker",
    "lock_layer": "locker",
    "lock_layers": "locker",
    "lock_states": "validity",
    "read_lock": "pylock",
}
__all__ = [
    "LockOptions",
    "LockRequest",
    "LockResult",
    "LockState",
    "LockedLayer",
    "LockedPackage",
    "LockedWheel",
    "PythonFor",
    "lock_layer",
    "lock_layers",
    "lock_states",
    "read_lock",
]
__getattr__ = lazy_face(__name__, FACE)
