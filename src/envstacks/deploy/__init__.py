"""Deploy layers: published archives into a target folder, or built layers as a local export.

Both place a layer side by side with the others and run its postinstall
(:mod:`envstacks.deploy.placement`); deploy first fetches, verifies and safely unpacks its
archive, local-export stages it from the build folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks._lazy import lazy_face

if TYPE_CHECKING:
    from envstacks.deploy.deployer import deploy
    from envstacks.deploy.export import ExportResult, export_layers
    from envstacks.deploy.result import DeployResult, RefusedLayer

#: Public name -> the submodule that defines it (loaded on first use; see envstacks._lazy).
FACE = {
    "DeployResult": "result",
    "ExportResult": "export",
    "RefusedLayer": "result",
    "deploy": "deployer",
    "export_layers": "export",
}
__all__ = [
    "DeployResult",
    "ExportResult",
    "RefusedLayer",
    "deploy",
    "export_layers",
]
__getattr__ = lazy_face(__name__, FACE)
