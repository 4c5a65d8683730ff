"""``envstacks show``: the stack's layers, their dependencies in sys.path order, lock status.

``show --sbom LAYER`` prints instead the SBOM publish wrote for that layer.
"""

from __future__ import annotations

import argparse

from envstacks.frontends.cli._options import (
    Invocation,
    add_build_dir,
    add_json,
    add_output_dir,
    add_selection,
)

NAME = "show"
HELP = "show the layers of the stack and their lock status"
DESCRIPTION = """\
Print the layers as a tree, each with the layers below it in sys.path order. A '*' marks a
layer whose lock is missing or stale (why is said on standard error, after the tree);
'name -> name@N' is the deployed name of a versioned layer. Nothing is locked or built. With
--sbom LAYER, print the CycloneDX SBOM that publish wrote for that layer in the publish folder
(checked against its recorded sha256)."""
EXAMPLES = (
    ("", "the whole stack of the project in the current folder"),
    ("--include 'app-*'", "only the applications, with the layers they need"),
    ("--json > status.json", "venvstacks' status JSON, for scripts"),
    ("--sbom app-hello > app-hello.cdx.json", "the published SBOM of one layer"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``show``."""
    add_selection(parser)
    add_build_dir(parser)
    add_json(parser, help="print venvstacks' status JSON", negatable=True)
    parser.add_argument(
        "--sbom",
        metavar="LAYER",
        help="print the CycloneDX SBOM publish wrote for this layer (a build name)",
    )
    add_output_dir(parser, "the output-dir setting; where --sbom looks")


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Print the stack's layers (a tree, or venvstacks' status JSON)."""
    import time  # noqa: PLC0415

    from envstacks.frontends.cli._run import open_session, plan_request, print_json  # noqa: PLC0415
    from envstacks.frontends.verb_summary import status_summary  # noqa: PLC0415
    from envstacks.orchestrator.plan import Op  # noqa: PLC0415
    from envstacks.orchestrator.status import render_tree, stale_locks  # noqa: PLC0415

    if opts.sbom is not None:
        return _print_sbom(inv, opts)
    started = time.monotonic()
    session = open_session(inv, opts)
    # With --include, show the layers a full lock of the selection would touch (venvstacks).
    selection = plan_request(opts, lock=Op.RUN, lock_dependencies=True, steps=frozenset())
    plan = session.plan(selection) if opts.include else None
    status = session.status(plan)
    if opts.json:
        print_json(inv.out, status.to_json())
    else:
        inv.out.write(render_tree(status))
    stale = stale_locks(status)
    if stale:
        inv.reporter.info("* lock missing or stale (`envstacks lock --if-needed` relocks):")
        for line in stale:
            inv.reporter.info(f"  {line}")
    inv.reporter.info(status_summary(status, time.monotonic() - started))
    return 0


def _print_sbom(inv: Invocation, opts: argparse.Namespace) -> int:
    """Print a published layer's SBOM, as publish wrote it."""
    from envstacks.frontends.cli._run import open_session  # noqa: PLC0415
    from envstacks.orchestrator.sbom_lookup import published_sbom  # noqa: PLC0415

    session = open_session(inv, opts, output="output")
    data = published_sbom(session.spec, opts.sbom)
    inv.out.write(data.decode("utf-8"))
    return 0
