"""``envstacks show``: the stack's layers, their dependencies in sys.path order, lock status."""

from __future__ import annotations

import argparse

from envstacks.frontends.cli._options import Invocation, add_build_dir, add_json, add_selection

NAME = "show"
HELP = "show the layers of the stack and their lock status"
DESCRIPTION = """\
Print the layers as a tree, each with the layers below it in sys.path order. A '*' marks a
layer whose lock is missing or stale (why is said on standard error, after the tree);
'name -> name@N' is the deployed name of a versioned layer. Nothing is locked or built."""
EXAMPLES = (
    ("", "the whole stack of the project in the current folder"),
    ("--include 'app-*'", "only the applications, with the layers they need"),
    ("--json > status.json", "venvstacks' status JSON, for scripts"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``show``."""
    add_selection(parser)
    add_build_dir(parser)
    add_json(parser, help="print venvstacks' status JSON", negatable=True)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Print the stack's layers (a tree, or venvstacks' status JSON)."""
    import time  # noqa: PLC0415

    from envstacks.frontends.cli._run import open_session, plan_request, print_json  # noqa: PLC0415
    from envstacks.frontends.verb_summary import status_summary  # noqa: PLC0415
    from envstacks.orchestrator.plan import Op  # noqa: PLC0415
    from envstacks.orchestrator.status import render_tree, stale_locks  # noqa: PLC0415

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
