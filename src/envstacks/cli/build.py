"""``envstacks build``: (lock if asked,) build the layer environments (publish with --publish)."""

from __future__ import annotations

import argparse

from envstacks.cli._options import (
    Invocation,
    Verb,
    add_also,
    add_build_dir,
    add_index_options,
    add_output_dir,
    add_publish_options,
    add_reset_lock,
    add_selection,
    add_show_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``build``."""
    add_selection(parser)
    add_build_dir(parser)
    add_output_dir(parser, "the output-dir setting")
    parser.add_argument(
        "--lock-if-needed",
        "--lock",
        dest="lock_if_needed",
        action="store_true",
        help="lock layers whose lock is missing or stale before building",
    )
    add_reset_lock(parser)
    parser.add_argument(
        "--clean", action="store_true", help="delete and recreate the selected environments"
    )
    parser.add_argument("--publish", action="store_true", help="publish archives after building")
    add_publish_options(parser)
    add_also(parser, "build")
    add_also(parser, "publish")
    parser.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="layers built at once (default: 2)"
    )
    add_index_options(parser)
    add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Build the selected layers; print one line per layer (and the publish summary)."""
    from envstacks.build import BuildOptions  # noqa: PLC0415 - stage code loads only when run
    from envstacks.cli._run import (  # noqa: PLC0415
        output_dir,
        plan_request,
        print_json,
        run_stack,
        write_lines,
    )
    from envstacks.cli.lock import lock_options  # noqa: PLC0415
    from envstacks.pipeline import PublishOptions, StackRequest  # noqa: PLC0415
    from envstacks.plan import Op  # noqa: PLC0415

    publish = None
    if opts.publish:
        publish = PublishOptions(
            output_dir=output_dir(opts),
            format_name=opts.format_name,
            tag_outputs=opts.tag_outputs,
            force=opts.clean,
        )
    request = StackRequest(
        plan=plan_request(
            opts,
            lock=Op.IF_NEEDED if opts.lock_if_needed or opts.reset_lock else Op.SKIP,
            build=Op.RUN,
            publish=opts.publish,
            build_dependencies=opts.build_dependencies,
            publish_dependencies=opts.publish_dependencies,
            build_derived=opts.build_derived,
            publish_derived=opts.publish_derived,
        ),
        lock=lock_options(opts),
        build=BuildOptions(clean=opts.clean, jobs=max(1, opts.jobs)),
        publish=publish,
    )
    result = run_stack(inv, opts, request)
    if result is None:
        return 0
    if opts.json:
        summary: dict[str, object] = {"built": result.built}
        if result.locked:
            summary["locked"] = result.locked
        if result.published is not None:
            summary["published"] = result.published
        print_json(inv.out, summary)
        return 0
    for built in result.built:
        state = "built" if built.built else "up to date"
        inv.out.write(f"{state}: {built.layer} ({built.env_path})\n")
    if result.published is not None:
        write_lines(inv.out, result.published.describe())
    return 0


VERB = Verb(
    name="build",
    help="build the layer environments",
    add_arguments=add_arguments,
    run=run,
)
