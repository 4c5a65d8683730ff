"""``envstacks push``: push an existing publish folder (merged or not) to an OCI registry tag."""

from __future__ import annotations

import argparse
from pathlib import Path

from envstacks.frontends.cli._options import (
    Invocation,
    add_insecure,
    add_json,
    add_mount_from,
    add_repeatable,
    registry_reference,
)

NAME = "push"
HELP = "push a publish folder to an OCI registry tag"
DESCRIPTION = """\
Push a publish folder that already exists (a CI artifact, a merged folder) to an OCI
registry tag, as `publish --to` pushes what it publishes: every platform the folder holds,
each with its archives, deltas and file indexes, checked against its manifest. Blobs the
registry holds are not sent again, and blobs another repository of the registry holds are
mounted from it (--mount-from, and the repositories the folder was pushed to before). A
folder published with --tag-outputs (or merged) adds its platforms to the tag's index,
keeping the other platforms there, safely when several jobs push at once; an untagged
folder replaces the tag."""
EXAMPLES = (
    ("dist/venvstacks --to oci://ghcr.io/acme/stack:1.4", "push a publish folder"),
    (
        "release --to oci://ghcr.io/acme/stack-release:1.4 --mount-from acme/stack",
        "push a merged folder; blobs in acme/stack are mounted, not uploaded",
    ),
)
#: push works on publish folders, not on a stack spec.
USES_SPEC = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``push``."""
    parser.add_argument(
        "folder",
        type=Path,
        metavar="FOLDER",
        help="a publish output folder (made by publish or merge)",
    )
    parser.add_argument(
        "--to",
        dest="push_to",
        required=True,
        type=registry_reference,
        metavar="oci://REGISTRY/REPO:TAG",
        help="the registry tag to push to (needs envstacks[oci])",
    )
    add_repeatable(
        parser,
        "--platform",
        "PLATFORM",
        "push only this platform's layers (repeatable; default: every platform the folder holds)",
    )
    add_mount_from(parser)
    add_insecure(parser)
    add_json(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Push; print one line per blob, then the tag and the manifests."""
    import time  # noqa: PLC0415

    from envstacks.frontends.cli._run import finish  # noqa: PLC0415
    from envstacks.frontends.verb_summary import finished  # noqa: PLC0415
    from envstacks.orchestrator.distribution import push  # noqa: PLC0415 - stage code loads when run
    from envstacks.stages.oci import PushOptions  # noqa: PLC0415

    started = time.monotonic()
    options = PushOptions(
        target=opts.push_to, insecure=opts.insecure, mount_from=tuple(opts.mount_from)
    )
    result = push(
        opts.folder.expanduser().resolve(),
        options,
        reporter=inv.reporter,
        platforms=tuple(opts.platform) or None,
    )
    status = finish(inv, opts.json, result, result.describe())
    sent = sum(blob.uploaded for blob in result.blobs)
    inv.reporter.info(
        finished(
            [
                f"{len(result.manifests)} platform{'s' if len(result.manifests) != 1 else ''} "
                f"pushed, {sent} of {len(result.blobs)} blobs uploaded "
                f"({result.uploaded_bytes} bytes)"
            ],
            time.monotonic() - started,
        )
    )
    return status
