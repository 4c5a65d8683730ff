"""The ``venvstacks`` Hatch build target: ``hatch build -t venvstacks`` locks, builds, publishes.

Versions:

* ``standard`` (the default): lock what needs locking, build the layer environments and
  publish their archives with the ``__venvstacks__`` metadata into the target's directory
  (default: the stack's ``output-dir``). The artifacts are the archives, then the manifest.
* ``local-export``: lock and build as above, then export the layers, linked and ready to
  run, into ``export-directory`` (default: the stack's ``export-dir``). The artifacts are
  the exported layer folders.

When a layer requires the project itself, the project's wheel is built with hatchling's
wheel builder, in this process, and installed into that layer.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.plugin.manager import PluginManager

from envstacks.floor.errors import EnvStacksError, PublishError, SelectionError
from envstacks.floor.platforms import host_platform
from envstacks.frontends.integrations.hatch_plugins.reporting import (
    HatchReporter,
    abort_interrupted,
    abort_with,
)
from envstacks.frontends.integrations.hatch_plugins.target_options import VenvstacksBuilderConfig
from envstacks.frontends.integrations.hatch_plugins.wheel_builder import hatchling_wheel_builder
from envstacks.frontends.project_table import load_project_spec
from envstacks.frontends.verb_summary import next_command, stack_summary
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.plan import Op, Selection
from envstacks.orchestrator.session import Session
from envstacks.stages.deploying import ExportOptions
from envstacks.stages.oci import PushOptions
from envstacks.stages.packing.publisher import PublishOptions, PublishResult
from envstacks.stages.stackspec.model import StackSpec


class VenvstacksBuilder(BuilderInterface[VenvstacksBuilderConfig, PluginManager]):
    """Builds and publishes the project's ``[tool.venvstacks]`` stack as a Hatch build target."""

    PLUGIN_NAME = "venvstacks"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: What each version call made, keyed by the path it returned to hatchling.
        self._outputs: dict[str, list[str]] = {}

    @classmethod
    def get_config_class(cls) -> type[VenvstacksBuilderConfig]:
        """The target's options class."""
        return VenvstacksBuilderConfig

    def get_version_api(self) -> dict[str, Any]:
        """``standard`` publishes archives; ``local-export`` exports ready-to-run layers."""
        return {"standard": self.publish_stack, "local-export": self.export_stack}

    def get_default_versions(self) -> list[str]:
        """Only ``standard`` unless asked (``-t venvstacks:local-export``)."""
        return ["standard"]

    @cached_property
    def stack(self) -> StackSpec:
        """The project's stack, from the pyproject hatchling has already read."""
        return load_project_spec(self.metadata.config, Path(self.root) / "pyproject.toml")

    @cached_property
    def reporter(self) -> HatchReporter:
        """Core messages and progress, written through Hatch's ``app``."""
        return HatchReporter(self.app)

    def build(self, **kwargs: Any) -> Generator[str, None, None]:
        """Hatchling's build, yielding every archive (or exported layer), not one path per version.

        envstacks errors end the build with their message (and hint), not a traceback;
        ``hatch -v build`` shows the traceback too. Ctrl-C ends it with ``interrupted`` and
        exit status 130, once the steps under way have removed their temporaries.
        """
        try:
            for artifact in super().build(**kwargs):
                yield from self._outputs.pop(artifact, [artifact])
        except EnvStacksError as error:
            abort_with(self.app, error)
        except KeyboardInterrupt:
            abort_interrupted(self.app)

    # -- versions ---------------------------------------------------------------------------

    def publish_stack(self, directory: str, **build_data: Any) -> str:
        """``standard``: lock if needed, build, publish archives and metadata into ``directory``."""
        publish = PublishOptions(
            output_dir=Path(directory),
            format_name=self.config.archive_format,
            compression=self.config.compression,
            compression_from=self.config.field("compression"),
            tag_outputs=self.config.tag_outputs,
            delta_from=self.config.delta_from,
        )
        push_to = self.config.push_to
        insecure = self.config.push_insecure
        push = (
            PushOptions(target=push_to, insecure=insecure, mount_from=self.config.push_mount_from)
            if push_to
            else None
        )
        run = self._run(publish=publish, push=push, insecure=insecure)
        result = run.published
        assert result is not None  # a request with publish options publishes
        if run.pushed is not None:
            pushed = run.pushed
            self.app.display_success(
                f"pushed to {pushed.reference} ({pushed.uploaded_bytes} bytes uploaded; "
                f"platforms: {', '.join(pushed.platforms)})"
            )
        return self._record([str(path) for path in published_paths(result)])

    def export_stack(self, directory: str, **build_data: Any) -> str:
        """``local-export``: lock if needed, build, and export the layers, ready to run."""
        export = ExportOptions(output_dir=self.config.export_directory)
        results = self._run(export=export).exported
        return self._record([str(result.path) for result in results])

    def _record(self, paths: Sequence[str]) -> str:
        if not paths:
            raise PublishError(
                f"no layer of the stack targets this platform ({host_platform()}), so the "
                "build target has nothing to publish",
                hint="check the layers' `platforms` and the target's `include` option",
            )
        self._outputs[paths[-1]] = list(paths)
        return paths[-1]

    def _run(
        self,
        *,
        publish: PublishOptions | None = None,
        push: PushOptions | None = None,
        export: ExportOptions | None = None,
        insecure: bool = False,
    ) -> pipeline.StackResult:
        """Lock (or check the locks), build, then publish or export the selected layers.

        Ends with the summary line every front-end prints (what changed, how long it took)
        and the command that usually comes next (deploy or push what was published).
        """
        started = time.monotonic()
        session = Session(
            self.stack,
            reporter=self.reporter,
            project_wheel_builder=hatchling_wheel_builder(self.reporter),
        )
        check_only = self.config.lock_policy == "check"
        request = Selection(
            include=self.config.layers,
            lock=Op.SKIP if check_only else Op.IF_NEEDED,
            build=Op.RUN,
            publish=True,
            # The output must be deployable on its own: the layers the selected ones need
            # are built (if outdated) and published with them.
            build_dependencies=True,
            publish_dependencies=True,
        )
        try:
            result = pipeline.run(
                session,
                pipeline.StackRequest(
                    plan=request,
                    publish=publish,
                    push=push,
                    export=export,
                    insecure=insecure,
                    locks_must_be_valid=self.config.field("lock") if check_only else None,
                ),
            )
        except SelectionError as error:
            # The CLI's hint names --allow-missing, which the target does not have.
            raise SelectionError(
                f"{self.config.field('include')}: {error.message}",
                hint="check the patterns against `envstacks show` (they match build names such "
                "as 'app-*' or 'framework-x') and correct the target's include option, or remove "
                "it to build every layer",
            ) from error
        self.app.display_success(stack_summary(result, time.monotonic() - started))
        command = next_command("build", result)
        if command is not None:
            self.app.display_info(f"next: {command}")
        return result

    # -- clean ------------------------------------------------------------------------------

    def clean(self, directory: str, versions: list[str]) -> None:
        """``hatch build -c``: remove the archives, metadata and exports this target made.

        Hatchling calls this from :meth:`build`, which turns envstacks errors into messages.
        """
        published = Path(directory) if "standard" in versions else None
        exported = None
        if "local-export" in versions:
            exported = self.config.export_directory or self.stack.settings.export_dir
        for path in pipeline.clean(
            self.stack, reporter=self.reporter, published=published, exported=exported
        ):
            self.app.display_debug(f"removed {path}")


def published_paths(result: PublishResult) -> list[Path]:
    """The archives of every selected layer (written now or unchanged), then the manifest."""
    paths = [item.archive_path for item in result.layers]
    if result.manifest_path is not None:
        paths.append(result.manifest_path)
    return paths
