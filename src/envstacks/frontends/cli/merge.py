"""``envstacks merge``: combine publish folders of several platforms into one folder and index."""

from __future__ import annotations

import argparse
from pathlib import Path

from envstacks.frontends.cli._options import Invocation, add_json

NAME = "merge"
HELP = "combine the publish folders of several platforms into one"
DESCRIPTION = """\
Combine several publish output folders (one per platform, from a CI matrix, published with
--tag-outputs) into one folder: every archive, delta and file index (hard links where
possible, each checked against its manifest), one manifest per platform and one index of
every platform (__venvstacks__/venvstacks.json). deploy reads the merged folder, locally or
from a web server, and picks the archives of the machine it runs on. Two inputs that
disagree about the same layer are refused."""
EXAMPLES = (
    ("linux/ macos/ windows/ --output-dir dist/all", "one folder for three platforms"),
    ("dist/all new-linux/ --output-dir dist/all", "add a platform to an earlier merge"),
)
#: merge works on publish folders, not on a stack spec.
USES_SPEC = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``merge``."""
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="OUTPUT",
        help="a publish output folder (repeat for each platform)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="the merged folder (created if missing; may also be one of the inputs)",
    )
    add_json(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Merge; print one line per platform and the index."""
    import time  # noqa: PLC0415

    from envstacks.frontends.cli._run import print_json, write_lines  # noqa: PLC0415
    from envstacks.frontends.verb_summary import finished  # noqa: PLC0415
    from envstacks.orchestrator.distribution import merge  # noqa: PLC0415 - stage code loads when run

    started = time.monotonic()
    result = merge(
        [path.expanduser() for path in opts.inputs],
        opts.output_dir.expanduser(),
        reporter=inv.reporter,
    )
    if opts.json:
        print_json(inv.out, result)
    elif not inv.quiet:
        write_lines(inv.out, result.describe())
    platforms = len(result.manifests)
    layers = sum(len(names) for names in result.layers.values())
    noun = "platform" if platforms == 1 else "platforms"
    inv.reporter.info(
        finished([f"{platforms} {noun}, {layers} layers merged"], time.monotonic() - started)
    )
    return 0
