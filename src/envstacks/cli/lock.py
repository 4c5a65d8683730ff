"""``envstacks lock``: resolve the selected layers with uv into committed PEP 751 lock files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.cli._options import (
    Invocation,
    Verb,
    add_build_dir,
    add_index_options,
    add_reset_lock,
    add_selection,
    add_show_options,
)

if TYPE_CHECKING:
    from envstacks.lock import LockOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lock``."""
    add_selection(parser)
    add_build_dir(parser)
    parser.add_argument(
        "--if-needed", action="store_true", help="only lock layers whose lock is missing or stale"
    )
    add_reset_lock(parser)
    parser.add_argument(
        "--lock-dependencies",
        action="store_true",
        help="fully relock the dependencies of included layers too",
    )
    add_index_options(parser)
    add_show_options(parser)


def lock_options(opts: argparse.Namespace) -> LockOptions:
    """``--no-index`` and ``--local-wheels`` as lock options (``build`` takes them too)."""
    from envstacks.lock import LockOptions  # noqa: PLC0415 - stage code loads only when run

    return LockOptions(
        index=opts.index, local_wheels=tuple(p.expanduser().resolve() for p in opts.local_wheels)
    )


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Lock the selected layers and print one line (or a JSON entry) per layer."""
    from envstacks.cli._run import plan_request, print_json, run_stack  # noqa: PLC0415
    from envstacks.pipeline import StackRequest  # noqa: PLC0415
    from envstacks.plan import Op  # noqa: PLC0415

    request = StackRequest(
        plan=plan_request(
            opts,
            lock=Op.IF_NEEDED if opts.if_needed else Op.RUN,
            lock_dependencies=opts.lock_dependencies,
        ),
        lock=lock_options(opts),
    )
    result = run_stack(inv, opts, request)
    if result is None:
        return 0
    if opts.json:
        print_json(inv.out, {"locked": result.locked})
        return 0
    for locked in result.locked:
        state = locked.state
        what = "locked" if locked.changed else ("checked" if locked.ran_uv else "valid")
        inv.out.write(
            f"{what}: {locked.layer} ({state.install_target}, locked at {state.locked_at})\n"
        )
    return 0


VERB = Verb(
    name="lock",
    help="lock the layers' requirements with uv",
    add_arguments=add_arguments,
    run=run,
)
