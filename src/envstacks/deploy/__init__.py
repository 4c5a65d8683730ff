"""Deploy published layers: fetch, verify, unpack safely, place side by side and run postinstall."""

from __future__ import annotations

from envstacks.deploy.deployer import deploy
from envstacks.deploy.result import DeployResult, RefusedLayer

__all__ = ["DeployResult", "RefusedLayer", "deploy"]
