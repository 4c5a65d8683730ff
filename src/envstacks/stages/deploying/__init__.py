"""Deploy layers: published archives into a target folder, or built layers as a local export.

Both place a layer side by side with the others and run its postinstall
(:mod:`envstacks.stages.deploying.placement`); deploy first fetches, verifies and safely unpacks its
archive, local-export stages it from the build folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.stages.deploying.deploy_result import DeployResult, RefusedLayer
    from envstacks.stages.deploying.deployer import DeployOptions, deploy_layers
    from envstacks.stages.deploying.local_export import ExportOptions, ExportResult, export_layers

#: Public name -> the submodule that defines it (loaded on first use; see
#: envstacks.floor.lazy_face).
FACE = {
    "DeployOptions": "deployer",
    "DeployResult": "deploy_result",
    "ExportOptions": "local_export",
    "ExportResult": "local_export",
    "RefusedLayer": "deploy_result",
    "deploy_layers": "deployer",
    "export_layers": "local_export",
}
__all__ = [
    "DeployOptions",
    "DeployResult",
    "ExportOptions",
    "ExportResult",
    "RefusedLayer",
    "deploy_layers",
    "export_layers",
]
__getattr__ = lazy_face(__name__, FACE)
