"""``envstacks publish``: pack built layers into reproducible archives with their metadata."""

from __future__ import annotations

import argparse

from envstacks.cli._options import (
    Invocation,
    Verb,
    add_also,
    add_build_dir,
    add_output_dir,
    add_publish_options,
    add_selection,
    add_show_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``publish``."""
    add_selection(parser)
    add_build_dir(parser)
    add_output_dir(parser, "the output-dir setting")
    add_publish_options(parser)
    parser.add_argument(
        "--force", action="store_true", help="rebuild archives even if nothing changed"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be published and stop"
    )
    add_also(parser, "publish")
    add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Publish the selected layers; print one line per archive and the manifest."""
    from envstacks.cli._run import (  # noqa: PLC0415 - stage code loads only when run
        output_dir,
        plan_request,
        print_json,
        run_stack,
        write_lines,
    )
    from envstacks.pipeline import PublishOptions, StackRequest  # noqa: PLC0415

    request = StackRequest(
        plan=plan_request(
            opts,
            publish=True,
            publish_dependencies=opts.publish_dependencies,
            publish_derived=opts.publish_derived,
        ),
        publish=PublishOptions(
            output_dir=output_dir(opts),
            format_name=opts.format_name,
            tag_outputs=opts.tag_outputs,
            force=opts.force,
            dry_run=opts.dry_run,
        ),
    )
    result = run_stack(inv, opts, request)
    if result is None or result.published is None:
        return 0
    if opts.json:
        print_json(inv.out, result.published)
    else:
        write_lines(inv.out, result.published.describe())
    return 0


VERB = Verb(
    name="publish",
    help="pack built layers into archives with metadata",
    add_arguments=add_arguments,
    run=run,
)
