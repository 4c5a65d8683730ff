"""``envstacks lock``: resolve the selected layers with uv into committed PEP 751 lock files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackResult
    from envstacks.stages.locking import LockOptions
    from envstacks.stages.stackspec.model import StackSpec


NAME = "lock"
HELP = "lock the layers' requirements with uv"
DESCRIPTION = """\
Resolve each selected layer with uv, lowest layer first, into
<requirements-dir>/<build name>/pylock.<build name>.toml (PEP 751; dots in the build name
become underscores: pylock.cpython-3_12.toml) with its .meta.json. Commit these files."""
EXAMPLES = (
    ("", "lock every layer"),
    ("--if-needed", "relock only layers whose lock is missing or stale"),
    ("--include app-stats --reset-lock app-stats", "relock one application from scratch"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lock``."""
    opt.add_stack_options(parser)
    opt.add_flag(
        parser,
        "--clean",
        help="remove the build environments of the runtimes first (locking makes them again)",
    )
    opt.add_flag(parser, "--if-needed", help="only lock layers whose lock is missing or stale")
    opt.add_reset_lock(parser)
    opt.add_flag(
        parser, "--lock-dependencies", help="fully relock the dependencies of included layers too"
    )
    opt.add_index_options(parser)
    opt.add_show_options(parser)


def lock_options(spec: StackSpec, opts: argparse.Namespace, *, clean: bool = False) -> LockOptions:
    """``--index`` and ``--local-wheels`` as lock options (``build`` takes them too).

    ``--local-wheels`` folders are relative to the spec's folder, as in venvstacks. ``clean``
    is ``lock --clean`` (``build --clean`` rebuilds the runtimes itself).
    """
    from envstacks.frontends.cli._run import spec_relative  # noqa: PLC0415
    from envstacks.stages.locking import LockOptions  # noqa: PLC0415 - stage code loads only when run

    return LockOptions(
        index=opts.index,
        local_wheels=tuple(spec_relative(spec, path) for path in opts.local_wheels),
        clean=clean,
    )


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Lock the selected layers and print one line (or a JSON entry) per layer."""
    from envstacks.frontends.cli._run import plan_request, run_stack  # noqa: PLC0415
    from envstacks.orchestrator.pipeline import StackRequest  # noqa: PLC0415 - stage code loads only when run
    from envstacks.orchestrator.plan import Op, Step  # noqa: PLC0415

    def request(spec: StackSpec) -> StackRequest:
        return StackRequest(
            plan=plan_request(
                opts,
                lock=Op.IF_NEEDED if opts.if_needed else Op.RUN,
                lock_dependencies=opts.lock_dependencies,
                steps=frozenset({Step.LOCK}),
            ),
            lock=lock_options(spec, opts, clean=opts.clean),
        )

    return run_stack(inv, opts, request, _summary, verb=NAME)


def _summary(result: StackResult) -> tuple[object, list[str]]:
    lines = [
        f"{'locked' if r.changed else ('checked' if r.ran_uv else 'valid')}: {r.layer} ("
        + (f"{r.state.install_target}, " if r.state.install_target != r.layer else "")
        + f"locked at {r.state.locked_at})"
        for r in result.locked
    ]
    return {"locked": result.locked}, lines
