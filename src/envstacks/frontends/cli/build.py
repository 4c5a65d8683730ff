"""``envstacks build``: (lock if asked,) build the layer environments (publish with --publish)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackRequest, StackResult
    from envstacks.stages.stackspec.model import StackSpec


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
    opt.add_flag(
        parser,
        "--clean",
        help="delete and recreate the selected environments (and, with --publish, their archives)",
    )
    opt.add_flag(
        parser,
        "--lock-if-needed",
        "--lock",
        dest="lock_if_needed",
        help="lock layers whose lock is missing or stale before building",
    )
    opt.add_flag(
        parser,
        "--build",
        default=True,
        help="build the layers (the default); --no-build: only lock (if asked) and publish",
    )
    opt.add_flag(
        parser,
        "--publish",
        help="publish archives after building (without it: say what would be published)",
    )
    opt.add_reset_lock(parser)
    opt.add_publish_options(parser)
    opt.add_flag(
        parser,
        "--lock-dependencies",
        help="accepted as venvstacks accepts it, and as there without effect: build locks the "
        "dependencies of included layers only if needed",
    )
    opt.add_also(parser, "build")
    opt.add_also(parser, "publish")
    opt.add_flag(
        parser,
        "--include-dependencies",
        default=None,
        help="set --lock-dependencies, --build-dependencies and --publish-dependencies at once",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="layers built at once (default: 2)"
    )
    opt.add_index_options(parser)
    opt.add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Build the selected layers; print one line per layer (and the publish summary).

    As in venvstacks, a build always ends with a publish: a dry run without ``--publish``.
    """
    from envstacks.frontends.cli._run import plan_request, publishing, run_stack  # noqa: PLC0415
    from envstacks.frontends.cli.lock import lock_options  # noqa: PLC0415
    from envstacks.orchestrator.plan import Op  # noqa: PLC0415
    from envstacks.stages.building import BuildOptions  # noqa: PLC0415 - stage code loads only when run

    dependencies = {
        name: getattr(opts, name)
        for name in ("lock_dependencies", "build_dependencies", "publish_dependencies")
    }
    if opts.include_dependencies is not None:
        dependencies = dict.fromkeys(dependencies, opts.include_dependencies)
    if opts.reset_lock and not opts.lock_if_needed:
        inv.reporter.warning(
            "--reset-lock has no effect without --lock-if-needed: build only locks when asked to"
        )

    def request(spec: StackSpec) -> StackRequest:
        plan = plan_request(
            opts,
            lock=Op.IF_NEEDED if opts.lock_if_needed else Op.SKIP,
            build=Op.RUN if opts.build else Op.SKIP,
            publish=True,
            build_derived=opts.build_derived,
            publish_derived=opts.publish_derived,
            **dependencies,
        )
        return publishing(
            spec,
            opts,
            plan,
            force=opts.clean,
            dry_run=not opts.publish,
            lock=lock_options(spec, opts),
            build=BuildOptions(clean=opts.clean, jobs=max(1, opts.jobs)),
        )

    return run_stack(inv, opts, request, _summary, verb=NAME, output="output")


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
        if result.published.dry_run:
            lines += [
                f"{item.status}: {item.archive_path.name}" for item in result.published.layers
            ]
            lines.append("archives not created (pass --publish to create them)")
        else:
            lines += result.published.describe()
    if result.pushed is not None:
        data["pushed"] = result.pushed
        lines += result.pushed.describe()
    return data, lines
