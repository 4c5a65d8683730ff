"""``envstacks lock``: resolve the selected layers with uv into committed PEP 751 lock files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from envstacks.frontends.cli import _options as opt
from envstacks.frontends.cli._options import Invocation

if TYPE_CHECKING:
    from envstacks.orchestrator.pipeline import StackResult
    from envstacks.stages.locking import LockOptions
    from envstacks.stages.stackspec.model import StackSpec


NAME = "lock"
HELP = "lock the layers' requirements with uv"
DESCRIPTION = """\
Resolve each selected layer with uv, lowest layer first, into
<requirements-dir>/<build name>/pylock.<build name>.toml (PEP 751; dots in the build name
become underscores: pylock.cpython-3_12.toml) with its .meta.json. Commit these files."""
EXAMPLES = (
    ("", "lock every layer"),
    ("--if-needed", "relock only layers whose lock is missing or stale"),
    ("--check", "in CI: fail (status 1) naming each missing or stale lock; write nothing"),
    ("--include app-stats --reset-lock app-stats", "relock one application from scratch"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lock``."""
    opt.add_stack_options(parser)
    opt.add_flag(
        parser,
        "--clean",
        help="remove the build environments of the runtimes first (locking makes them again)",
    )
    opt.add_flag(parser, "--if-needed", help="only lock layers whose lock is missing or stale")
    opt.add_flag(
        parser,
        "--check",
        "--locked",
        help="lock nothing: exit 0 if every selected lock is valid, else 1 naming each stale "
        "lock and why (uv's --check/--locked); writes nothing",
    )
    opt.add_reset_lock(parser)
    opt.add_flag(
        parser, "--lock-dependencies", help="fully relock the dependencies of included layers too"
    )
    opt.add_index_options(parser)
    opt.add_show_options(parser)


def lock_options(spec: StackSpec, opts: argparse.Namespace, *, clean: bool = False) -> LockOptions:
    """``--index`` and ``--local-wheels`` as lock options (``build`` takes them too).

    ``--local-wheels`` folders are relative to the spec's folder, as in venvstacks. ``clean``
    is ``lock --clean`` (``build --clean`` rebuilds the runtimes itself).
    """
    from envstacks.frontends.cli._run import spec_relative  # noqa: PLC0415
    from envstacks.stages.locking import LockOptions  # noqa: PLC0415 - stage code loads only when run

    return LockOptions(
        index=opts.index,
        local_wheels=tuple(spec_relative(spec, path) for path in opts.local_wheels),
        clean=clean,
    )


def run(inv: Invocation, opts: argparse.Namespace) -> int:
    """Lock the selected layers and print one line (or a JSON entry) per layer."""
    from envstacks.frontends.cli._run import plan_request, run_stack  # noqa: PLC0415
    from envstacks.orchestrator.pipeline import StackRequest  # noqa: PLC0415 - stage code loads only when run
    from envstacks.orchestrator.plan import Op, Step  # noqa: PLC0415

    if opts.check:
        return _check(inv, opts)

    def request(spec: StackSpec) -> StackRequest:
        return StackRequest(
            plan=plan_request(
                opts,
                lock=Op.IF_NEEDED if opts.if_needed else Op.RUN,
                lock_dependencies=opts.lock_dependencies,
                steps=frozenset({Step.LOCK}),
            ),
            lock=lock_options(spec, opts, clean=opts.clean),
        )

    return run_stack(inv, opts, request, _summary, verb=NAME)


def _summary(result: StackResult) -> tuple[object, list[str]]:
    lines = [
        f"{'locked' if r.changed else ('checked' if r.ran_uv else 'valid')}: {r.layer} ("
        + (f"{r.state.install_target}, " if r.state.install_target != r.layer else "")
        + f"locked at {r.state.locked_at})"
        for r in result.locked
    ]
    return {"locked": result.locked}, lines


def _check(inv: Invocation, opts: argparse.Namespace) -> int:
    """``lock --check``: every lock a full lock of the selection would write must be valid.

    Reads the spec and the lock files, as ``show`` does; holds no folder, writes nothing.
    """
    import shlex  # noqa: PLC0415
    import time  # noqa: PLC0415

    from envstacks.floor.errors import LockError, SelectionError  # noqa: PLC0415
    from envstacks.frontends.cli._run import finish, open_session, plan_request  # noqa: PLC0415
    from envstacks.frontends.verb_summary import finished  # noqa: PLC0415
    from envstacks.orchestrator.plan import Op, Step  # noqa: PLC0415
    from envstacks.orchestrator.status import stale_locks  # noqa: PLC0415

    if opts.clean or opts.reset_lock:
        option = "--clean" if opts.clean else "--reset-lock"
        raise SelectionError(
            f"lock --check writes nothing, so it cannot take {option}",
            hint=f"run `envstacks lock --check` without {option}",
        )
    started = time.monotonic()
    session = open_session(inv, opts)
    selection = plan_request(
        opts, lock=Op.RUN, lock_dependencies=opts.lock_dependencies, steps=frozenset({Step.LOCK})
    )
    status = session.status(session.plan(selection))
    layers = (*status.runtimes, *status.frameworks, *status.applications)
    stale = [layer for layer in layers if not layer.has_valid_lock]
    data = [
        {"name": layer.name, "valid": layer.has_valid_lock, "problem": layer.lock_problem}
        for layer in layers
    ]
    lines = [f"valid: {layer.name}" for layer in layers if layer.has_valid_lock]
    finish(inv, opts.json_results, data, lines)
    if stale:
        include = "".join(f" --include {shlex.quote(pattern)}" for pattern in opts.include)
        details = "\n".join(f"  {line}" for line in stale_locks(status))
        raise LockError(
            f"{len(stale)} of {len(layers)} locks {'is' if len(stale) == 1 else 'are'} missing "
            f"or stale:\n{details}",
            hint=f"run `envstacks lock --if-needed{include}` and commit the lock files",
        )
    inv.reporter.info(finished([f"{len(layers)} locks valid"], time.monotonic() - started))
    return 0
