"""What the verb handlers share at run time: the session, the plan request, ``--show``, JSON.

Imported only when a verb runs (the verb modules import it inside their handlers), so that
building a parser never imports the pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from envstacks.frontends.cli._options import Invocation
from envstacks.frontends.verb_summary import stack_summary
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.plan import Plan, Selection
from envstacks.orchestrator.session import Session, with_dirs
from envstacks.orchestrator.status import render_tree


def jsonable(value: Any) -> Any:
    """Turn result values (dataclasses, paths, enums, mappings) into JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def print_json(out: TextIO, data: Any) -> None:
    """Write JSON as venvstacks does: indented, sorted keys, trailing newline."""
    out.write(json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n")


def write_lines(out: TextIO, lines: list[str]) -> None:
    """Write result lines to stdout."""
    for line in lines:
        out.write(line + "\n")


def open_session(inv: Invocation, opts: argparse.Namespace) -> Session:
    """The session of a stack verb: the spec (with ``--build-dir``), plugins, wheel builder."""
    spec = with_dirs(inv.load_spec(), build_dir=getattr(opts, "build_dir", None))
    return Session(
        spec,
        reporter=inv.reporter,
        pm=inv.pm_factory(),
        project_wheel_builder=inv.project_wheel_builder,
    )


def plan_request(opts: argparse.Namespace, **ops: Any) -> Selection:
    """The plan request of a stack verb: its selection options plus the verb's operations."""
    return Selection(
        include=opts.include,
        allow_missing=opts.allow_missing,
        reset_lock=getattr(opts, "reset_lock", ()),
        **ops,
    )


def publish_request(opts: argparse.Namespace, *, publish: bool = True, **ops: Any) -> Selection:
    """A plan request that publishes (or exports) the selection, with ``--publish-*`` options."""
    return plan_request(
        opts,
        publish=publish,
        publish_dependencies=opts.publish_dependencies,
        publish_derived=opts.publish_derived,
        **ops,
    )


def publishing(
    opts: argparse.Namespace,
    plan: Selection,
    *,
    force: bool,
    dry_run: bool = False,
    **steps: Any,
) -> pipeline.StackRequest:
    """The request of a verb that publishes: the publish options, and the push (``--to``).

    ``steps`` are the request's other steps (``lock=``, ``build=``).
    """
    from envstacks.stages.oci import PushOptions  # noqa: PLC0415 - a value; no client loads
    from envstacks.stages.packing.publisher import PublishOptions  # noqa: PLC0415

    publish = PublishOptions(
        output_dir=output_dir(opts),
        format_name=opts.format_name,
        tag_outputs=opts.tag_outputs,
        force=force,
        dry_run=dry_run,
        verify=getattr(opts, "verify", False),
        delta_from=tuple(getattr(opts, "delta_from", ())),
    )
    push = (
        PushOptions(
            target=opts.push_to,
            insecure=opts.insecure,
            mount_from=tuple(getattr(opts, "mount_from", ())),
        )
        if opts.push_to
        else None
    )
    return pipeline.StackRequest(
        plan=plan, publish=publish, push=push, insecure=opts.insecure, **steps
    )


def finish(inv: Invocation, opts: argparse.Namespace, data: Any, lines: list[str]) -> int:
    """Print the verb's result: ``data`` as JSON with ``--json``, else ``lines``; exit status 0.

    ``-q`` drops the per-layer lines (``--json`` output is what was asked for and stays).
    """
    if opts.json:
        print_json(inv.out, data)
    elif not inv.quiet:
        write_lines(inv.out, lines)
    return 0


def output_dir(opts: argparse.Namespace) -> Path | None:
    """``--output-dir``, resolved against the current folder."""
    value: Path | None = opts.output_dir
    return value.expanduser().resolve() if value is not None else None


def shown(inv: Invocation, opts: argparse.Namespace, session: Session, plan: Plan) -> bool:
    """Print the plan for ``--show``/``--show-only``; True when the command should stop here."""
    if not (opts.show or opts.show_only):
        return False
    status = session.status(plan, with_operations=True)
    if opts.json and opts.show_only:
        print_json(inv.out, status.to_json())
    else:
        inv.out.write(render_tree(status))
    return bool(opts.show_only)


#: Turns a run's result into what the verb prints: (JSON data, text lines).
Summary = Callable[[pipeline.StackResult], tuple[Any, list[str]]]


def run_stack(
    inv: Invocation, opts: argparse.Namespace, request: pipeline.StackRequest, summary: Summary
) -> int:
    """Plan, handle ``--show``/``--show-only``, run, print the results; the exit status.

    The end line (what changed, how long it took) goes to the reporter, so standard output
    holds only the results.
    """
    started = time.monotonic()
    session = open_session(inv, opts)
    plan = session.plan(request.plan)
    if shown(inv, opts, session, plan):
        return 0
    result = pipeline.run(session, request, plan)
    data, lines = summary(result)
    status = finish(inv, opts, data, lines)
    inv.reporter.info(stack_summary(result, time.monotonic() - started))
    return status
