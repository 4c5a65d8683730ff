"""``envstacks publish``: pack built layers into reproducible archives with their metadata."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackRequest, StackResult
    from envstacks.stages.stackspec.model import StackSpec


NAME = "publish"
HELP = "pack built layers into archives with metadata"
DESCRIPTION = """\
Pack every selected, built layer into one reproducible archive and write the venvstacks
metadata (__venvstacks__/venvstacks.json and one file per layer) into the output folder
(dist/venvstacks by default). Archives that are up to date are kept. With --to, the
published layers are also pushed to an OCI registry."""
EXAMPLES = (
    ("", "publish every layer (build them first)"),
    ("--format tar.xz --output-dir release", "venvstacks-compatible archives in release/"),
    ("--to oci://registry.example.com/team/stack:1.0", "publish, then push to a registry"),
    ("--dry-run", "show what would be published"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``publish``."""
    opt.add_stack_options(parser, output="the output-dir setting")
    opt.add_publish_options(parser)
    opt.add_flag(parser, "--force", help="rebuild archives even if nothing changed")
    opt.add_flag(parser, "--dry-run", help="print what would be published and stop")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="re-hash every archive in the output folder, even those unchanged since last hashed",
    )
    opt.add_also(parser, "publish")
    opt.add_show_options(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Publish the selected layers; print one line per archive and the manifest."""
    from envstacks.frontends.cli._run import publish_request, publishing, run_stack  # noqa: PLC0415

    def request(spec: StackSpec) -> StackRequest:
        # venvstacks' publish neither locks nor builds, whatever the selection shows.
        plan = publish_request(opts, steps=frozenset())
        return publishing(spec, opts, plan, force=opts.force, dry_run=opts.dry_run)

    def summary(result: StackResult) -> tuple[object, list[str]]:
        return _summary(result, metadata=inv.verbose)

    return run_stack(inv, opts, request, summary, verb=NAME, output="output")


def _summary(result: StackResult, *, metadata: bool) -> tuple[object, list[str]]:
    """The JSON data and the lines (a dry run's metadata only with ``metadata``: ``-v``)."""
    published, pushed = result.published, result.pushed
    lines = published.describe(metadata=metadata) if published is not None else []
    if pushed is None:
        return published, lines
    from envstacks.frontends.cli._run import jsonable  # noqa: PLC0415

    return {**jsonable(published), "pushed": pushed}, lines + pushed.describe()
