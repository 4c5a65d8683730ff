"""``envstacks deploy``: verify, unpack and link published layers into a deployment folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from envstacks.frontends.cli._options import Invocation, add_insecure, add_json, add_repeatable

NAME = "deploy"
HELP = "install published layers into a deployment folder"
DESCRIPTION = """\
Install published layers into a deployment folder: read the manifest, fetch and verify each
archive (size and sha256), unpack it safely, link the layers and run their postinstall.py.
Layers already deployed from the same archive are left alone."""
EXAMPLES = (
    ("dist/venvstacks --target _deploy", "deploy a publish output folder"),
    (
        "https://example.com/stack/ --target /opt/stack --include app-stats",
        "one application (and what it needs) from a web server",
    ),
    ("oci://registry.example.com/team/stack:1.0 --target /opt/stack", "from an OCI registry"),
    ("dist/venvstacks --target _deploy --variant accel=gpu", "this variant of 'accel'"),
)
#: deploy works on published archives, not on a stack spec.
USES_SPEC = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``deploy``."""
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a publish output folder, a manifest file, an http(s):// or file:// base URL, "
        "or a registry reference oci://REGISTRY/REPO:TAG (or @sha256:DIGEST)",
    )
    parser.add_argument(
        "--target", type=Path, required=True, metavar="DIR", help="the deployment folder"
    )
    add_repeatable(
        parser,
        "--include",
        "PATTERN",
        "deploy only matching layers and the layers they need (repeatable)",
    )
    add_repeatable(
        parser,
        "--variant",
        "FRAMEWORK=VARIANT",
        "deploy this variant of a framework with variants, whatever the selectors say "
        "(repeatable; default: the first variant whose selectors match, else the fallback)",
    )
    add_insecure(parser)
    parser.add_argument(
        "--no-postinstall",
        dest="postinstall",
        action="store_false",
        help="run no code from the archives: write each layer's pyvenv.cfg but do not run its "
        "postinstall.py (no byte-compiling) nor its own postinstall_script",
    )
    add_json(parser)


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Deploy; print what was installed, reused and refused (exit 1 if a layer was refused)."""
    import time  # noqa: PLC0415

    from envstacks.frontends.cli._run import print_json, write_lines  # noqa: PLC0415
    from envstacks.frontends.verb_summary import deploy_summary  # noqa: PLC0415
    from envstacks.orchestrator.distribution import deploy  # noqa: PLC0415 - stage code loads when run
    from envstacks.stages.deploying import DeployOptions  # noqa: PLC0415
    from envstacks.stages.deploying.variant_choice import parse_overrides  # noqa: PLC0415

    started = time.monotonic()
    options = DeployOptions(
        include=tuple(opts.include),
        # With --json, refusals are part of the summary (and the exit status), not an error.
        raise_on_refusal=not opts.json,
        postinstall=opts.postinstall,
        variants=parse_overrides(opts.variant),
    )
    result = deploy(
        opts.source,
        opts.target.expanduser().resolve(),
        options,
        reporter=inv.reporter,
        pm=inv.pm_factory(),
        insecure=opts.insecure,
    )
    if opts.json:
        print_json(inv.out, result)
    elif not inv.quiet:
        write_lines(inv.out, result.describe())
    inv.reporter.info(deploy_summary(result, time.monotonic() - started))
    return 0 if result.ok else 1
