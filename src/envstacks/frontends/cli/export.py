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
names, linked and ready to run in place, without archives. Rerun each layer's postinstall.py
after moving the folder; to install layers on another machine, publish and deploy instead."""
EXAMPLES = (
    ("", "export every built layer into _export/"),
    ("--include app-stats --output-dir /opt/stats", "one application and what it needs"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``local-export``."""
    opt.add_stack_options(parser, output="the export-dir setting, '_export'")
    parser.add_argument("--force", action="store_true", help="export even if nothing changed")
    opt.add_also(parser, "export", dest="publish")
    opt.add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Export the selected layers; print one line per layer."""
    from envstacks.frontends.cli._run import output_dir, publish_request, run_stack  # noqa: PLC0415
    from envstacks.orchestrator.pipeline import StackRequest  # noqa: PLC0415
    from envstacks.stages.deploying import ExportOptions  # noqa: PLC0415

    request = StackRequest(
        plan=publish_request(opts),
        export=ExportOptions(output_dir=output_dir(opts), force=opts.force),
    )
    return run_stack(inv, opts, request, _summary)


def _summary(result: StackResult) -> tuple[object, list[str]]:
    lines = [f"{'exported' if e.exported else 'up to date'}: {e.path}" for e in result.exported]
    return {"exported": result.exported}, lines
