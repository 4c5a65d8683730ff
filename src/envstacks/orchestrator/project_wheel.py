"""The project's own wheels in a run: one per runtime interpreter that ships the project.

A layer that requires the project's own distribution gets the project's wheel, built by the
front-end's :class:`WheelBuilder` with the interpreter of the layer's runtime, so that
compiled extensions match the layer. A pure-Python wheel serves every runtime; a compiled
one is built once per runtime, and the layers are then locked and built in groups that
share a wheel (runtimes are independent of each other). A wheel is built again only when
something it is built from changed (:mod:`envstacks.orchestrator.wheel_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from envstacks.floor.fs import read_json, remove_path
from envstacks.orchestrator import wheel_inputs

if TYPE_CHECKING:
    from envstacks.floor.report import Reporter
    from envstacks.stages.stackspec.model import LayerSpec, RuntimeSpec, StackSpec

_T = TypeVar("_T")


class WheelBuilder(Protocol):
    """Builds the project's own wheel; each front-end has its own.

    Hatchling's builder under Hatch, PDM's under PDM, a PEP 517 ``uv build`` in the CLI.
    """

    def __call__(self, project_root: Path, out_dir: Path, *, python: Path) -> Path:
        """Build the wheel of ``project_root`` into ``out_dir`` (fresh, empty); return its path.

        ``python`` is the interpreter of the runtime layer the wheel goes into: compiled
        extensions must be built for it, not for the Python running the front-end.
        """
        ...


class ProjectWheels:
    """The wheels one session built, by runtime build name (each built at most once)."""

    def __init__(
        self,
        spec: StackSpec,
        builder: WheelBuilder | None,
        reporter: Reporter,
        python_for: Callable[[RuntimeSpec], Path],
    ) -> None:
        self.spec = spec
        self.builder = builder
        self.reporter = reporter
        #: The runtime's interpreter (provisioned if the runtime layer does not exist yet).
        self.python_for = python_for
        self.built: dict[str, Path] = {}

    def for_layers(self, layers: Sequence[LayerSpec]) -> dict[str, Path]:
        """The wheel for the runtime of each of ``layers`` that ships the project."""
        from envstacks.stages.locking.project_dist import requires_project  # noqa: PLC0415

        if self.builder is None:
            return {}
        runtimes: dict[str, RuntimeSpec] = {}
        for layer in layers:
            if requires_project(self.spec, layer):
                runtime = self.spec.runtime_of(layer)
                runtimes[runtime.build_name] = runtime
        for name, runtime in runtimes.items():
            if name not in self.built:
                pure = [w for w in self.built.values() if w.name.endswith("none-any.whl")]
                self.built[name] = pure[0] if pure else self._build(runtime)
        return {name: self.built[name] for name in runtimes}

    def kept(self, layer: LayerSpec, python: Path) -> Path | None:
        """The wheel kept for ``layer``'s runtime if nothing it is built from changed (no build).

        ``python`` is the runtime's interpreter (it must exist: nothing is provisioned).
        """
        if self.builder is None:
            return None
        runtime = self.spec.runtime_of(layer)
        if runtime.build_name in self.built:
            return self.built[runtime.build_name]
        return self._kept(runtime, python)[0]

    def _kept(
        self, runtime: RuntimeSpec, python: Path
    ) -> tuple[Path | None, wheel_inputs.WheelInputs]:
        """The kept wheel of ``runtime`` if still current, and what a build would be made from."""
        out, record_path = self._places(runtime)
        settings = self.spec.settings
        inputs = wheel_inputs.gather(
            self.spec.root,
            builder=self.builder,
            python=python,
            skipped=(
                settings.build_dir,
                settings.output_dir,
                settings.export_dir,
                settings.requirements_dir,
            ),
            previous=read_json(record_path),
        )
        return wheel_inputs.unchanged_wheel(record_path, out, inputs), inputs

    def _places(self, runtime: RuntimeSpec) -> tuple[Path, Path]:
        """The runtime's wheel folder and the record of what its wheel was built from."""
        out = self.spec.settings.build_dir / "project-wheel" / runtime.build_name
        return out, out.with_name(f"{runtime.build_name}.inputs.json")

    def _build(self, runtime: RuntimeSpec) -> Path:
        """The runtime's wheel: the one built before if nothing it is built from changed."""
        assert self.builder is not None
        python = self.python_for(runtime)
        out, record_path = self._places(runtime)
        wheel, inputs = self._kept(runtime, python)
        if wheel is not None:
            wheel_inputs.record(record_path, inputs, wheel)  # the files' new times, if touched
            self.reporter.info(
                f"the project's wheel {wheel.name} for {runtime.build_name} is up to date "
                "(nothing it is built from changed)"
            )
            return wheel
        record_path.unlink(missing_ok=True)
        remove_path(out)  # the builders get a fresh, empty folder
        out.mkdir(parents=True)
        with self.reporter.task(self.spec.project_name or "project", "build wheel"):
            wheel = self.builder(self.spec.root, out, python=python)
        wheel_inputs.record(record_path, inputs, wheel)
        self.reporter.info(f"built the project's wheel {wheel.name} for {runtime.build_name}")
        return wheel

    def groups(
        self, planned: Sequence[_T], layer_of: Callable[[_T], LayerSpec]
    ) -> list[tuple[Path | None, list[_T]]]:
        """``planned`` in groups that share one project wheel, each with that wheel.

        One group (the usual case) unless layers on runtimes needing different wheels
        (compiled for different Pythons) ship the project. Layers that do not ship the
        project join the first group.
        """
        wheels = self.for_layers([layer_of(item) for item in planned])
        distinct = list(dict.fromkeys(wheels.values()))
        if len(distinct) <= 1:
            return [(distinct[0] if distinct else None, list(planned))] if planned else []
        grouped: dict[Path, list[_T]] = {wheel: [] for wheel in distinct}
        for item in planned:
            runtime = self.spec.runtime_of(layer_of(item)).build_name
            grouped[wheels.get(runtime, distinct[0])].append(item)
        return [(wheel, group) for wheel, group in grouped.items() if group]


def pep517_builder(reporter: Reporter) -> WheelBuilder:
    """The standard project wheel builder: ``uv build`` (PEP 517), for any build backend."""

    def _build(project_root: Path, out_dir: Path, *, python: Path) -> Path:
        from envstacks.floor.uvrun import build_wheel  # noqa: PLC0415

        return build_wheel(project_root, out_dir, reporter=reporter, python=python)

    return _build
