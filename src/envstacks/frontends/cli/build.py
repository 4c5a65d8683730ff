"""``envstacks build``: (lock if asked,) build the layer environments (publish with --publish)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackResult


NAME = "build"
HELP = "build the layer environments"
DESCRIPTION = """\
Build one environment per selected layer in the build folder (_build/ by default): the
runtime first, then frameworks and applications, independent layers in parallel. A layer
whose inputs did not change is left as it is."""
EXAMPLES = (
    ("--lock-if-needed", "lock what is missing or stale, then build every layer"),
    ("--lock-if-needed --publish", "lock, build and publish in one go"),
    ("--include 'app-*'", "build the applications (and, if needed, the layers below them)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``build``."""
    opt.add_stack_options(parser, output="the output-dir setting")
    parser.add_argument(
        "--lock-if-needed",
        "--lock",
        dest="lock_if_needed",
        action="store_true",
        help="lock layers whose lock is missing or stale before building",
    )
    opt.add_reset_lock(parser)
    parser.add_argument(
        "--clean", action="store_true", help="delete and recreate the selected environments"
    )
    parser.add_argument("--publish", action="store_true", help="publish archives after building")
    opt.add_publish_options(parser)
    opt.add_also(parser, "build")
    opt.add_also(parser, "publish")
    parser.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="layers built at once (default: 2)"
    )
    opt.add_index_options(parser)
    opt.add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Build the selected layers; print one line per layer (and the publish summary)."""
    from envstacks.frontends.cli._run import publish_request, publishing, run_stack  # noqa: PLC0415
    from envstacks.frontends.cli.lock import lock_options  # noqa: PLC0415
    from envstacks.orchestrator.pipeline import StackRequest  # noqa: PLC0415
    from envstacks.orchestrator.plan import Op  # noqa: PLC0415
    from envstacks.stages.building import BuildOptions  # noqa: PLC0415 - stage code loads only when run

    plan = publish_request(
        opts,
        publish=opts.publish,
        lock=Op.IF_NEEDED if opts.lock_if_needed or opts.reset_lock else Op.SKIP,
        build=Op.RUN,
        build_dependencies=opts.build_dependencies,
        build_derived=opts.build_derived,
    )
    lock, build = lock_options(opts), BuildOptions(clean=opts.clean, jobs=max(1, opts.jobs))
    request = (
        publishing(opts, plan, force=opts.clean, lock=lock, build=build)
        if opts.publish
        else StackRequest(plan=plan, lock=lock, build=build)
    )
    return run_stack(inv, opts, request, _summary)


def _summary(result: StackResult) -> tuple[object, list[str]]:
    data: dict[str, object] = {"built": result.built}
    if result.locked:
        data["locked"] = result.locked
    lines = [
        f"{'built' if built.built else 'up to date'}: {built.layer} ({built.env_path})"
        for built in result.built
    ]
    if result.published is not None:
        data["published"] = result.published
        lines += result.published.describe()
    if result.pushed is not None:
        data["pushed"] = result.pushed
        lines += result.pushed.describe()
    return data, lines
