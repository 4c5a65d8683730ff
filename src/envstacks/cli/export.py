"""``envstacks local-export``: copy built layers into a folder, linked and ready to run."""

from __future__ import annotations

import argparse

from envstacks.cli._options import (
    Invocation,
    Verb,
    add_also,
    add_build_dir,
    add_output_dir,
    add_selection,
    add_show_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``local-export``."""
    add_selection(parser)
    add_build_dir(parser)
    add_output_dir(parser, "the export-dir setting, '_export'")
    parser.add_argument("--force", action="store_true", help="export even if nothing changed")
    add_also(parser, "export", dest="publish")
    add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Export the selected layers; print one line per layer."""
    from envstacks.cli._run import output_dir, plan_request, print_json, run_stack  # noqa: PLC0415
    from envstacks.pipeline import ExportOptions, StackRequest  # noqa: PLC0415

    request = StackRequest(
        plan=plan_request(
            opts,
            publish=True,
            publish_dependencies=opts.publish_dependencies,
            publish_derived=opts.publish_derived,
        ),
        export=ExportOptions(output_dir=output_dir(opts), force=opts.force),
    )
    result = run_stack(inv, opts, request)
    if result is None:
        return 0
    if opts.json:
        print_json(inv.out, {"exported": result.exported})
        return 0
    for exported in result.exported:
        inv.out.write(f"{'exported' if exported.exported else 'up to date'}: {exported.path}\n")
    return 0


VERB = Verb(
    name="local-export",
    help="export built layers to a local folder, ready to run",
    add_arguments=add_arguments,
    run=run,
)
