"""``envstacks local-export``: copy built layers into a folder, linked and ready to run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackResult


NAME = "local-export"
HELP = "export built layers to a local folder, ready to run"
DESCRIPTION = """\
Copy the selected, built layers into a folder (_export/ by default) under their deployed
names, linked and ready to run in place, without archives, then run each layer's
postinstall_script, if it has one. Rerun each layer's postinstall.py after moving the folder;
to install layers on another machine, publish and deploy instead."""
EXAMPLES = (
    ("", "export every built layer into _export/"),
    ("--include app-stats --output-dir /opt/stats", "one application and what it needs"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``local-export``."""
    opt.add_stack_options(parser, output="the export-dir setting, '_export'")
    opt.add_flag(parser, "--force", help="export even if nothing changed")
    opt.add_flag(parser, "--dry-run", help="print what would be exported and stop")
    parser.add_argument(
        "--no-postinstall",
        dest="postinstall",
        action="store_false",
        help="write each layer's pyvenv.cfg but run neither its postinstall.py nor its own "
        "postinstall_script",
    )
    opt.add_also(parser, "publish", "export")
    opt.add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Export the selected layers; print one line per layer."""
    from envstacks.frontends.cli._run import publish_request, run_stack  # noqa: PLC0415
    from envstacks.orchestrator.pipeline import StackRequest  # noqa: PLC0415
    from envstacks.stages.deploying import ExportOptions  # noqa: PLC0415

    def request(_spec: object) -> StackRequest:
        return StackRequest(
            # venvstacks' local-export neither locks nor builds, whatever the selection shows.
            plan=publish_request(opts, steps=frozenset()),
            export=ExportOptions(
                force=opts.force, dry_run=opts.dry_run, postinstall=opts.postinstall
            ),
        )

    return run_stack(inv, opts, request, _summary, verb=NAME, output="export")


def _summary(result: StackResult) -> tuple[object, list[str]]:
    lines = [f"{_verb(e.exported, e.dry_run)}: {e.path}" for e in result.exported]
    return {"exported": result.exported}, lines


def _verb(exported: bool, dry_run: bool) -> str:
    if not exported:
        return "up to date"
    return "would export" if dry_run else "exported"
