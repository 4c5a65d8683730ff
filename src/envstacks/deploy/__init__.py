"""Deploy layers: published archives into a target folder, or built layers as a local export.

Both fetch or stage a layer, place it side by side with the others and run its postinstall.
"""

from __future__ import annotations

from envstacks.deploy.deployer import deploy
from envstacks.deploy.export import ExportResult, export_layers
from envstacks.deploy.result import DeployResult, RefusedLayer

__all__ = ["DeployResult", "ExportResult", "RefusedLayer", "deploy", "export_layers"]
