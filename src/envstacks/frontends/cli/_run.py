"""What the verb handlers share at run time: the session, the plan request, ``--show``, JSON.

Imported only when a verb runs (the verb modules import it inside their handlers), so that
building a parser never imports the pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from envstacks.frontends.cli._options import Invocation
from envstacks.frontends.verb_summary import next_command, stack_summary
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.plan import Plan, Selection
from envstacks.orchestrator.session import Session, with_dirs

if TYPE_CHECKING:
    from envstacks.stages.stackspec.model import StackSpec


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


def open_session(
    inv: Invocation, opts: argparse.Namespace, *, output: str | None = None
) -> Session:
    """The session of a stack verb: the spec with the command line's folders, plugins, wheels.

    ``--build-dir`` and ``--output-dir`` (the output folder of ``output``: ``"output"`` for
    publishing, ``"export"`` for local-export) are relative to the spec's folder, as in
    venvstacks.
    """
    dirs = {"build_dir": getattr(opts, "build_dir", None)}
    if output is not None:
        dirs[f"{output}_dir"] = opts.output_dir
    spec = with_dirs(inv.load_spec(), **dirs)
    return Session(
        spec,
        reporter=inv.reporter,
        pm=inv.pm_factory(),
        project_wheel_builder=inv.project_wheel_builder,
    )


def spec_relative(spec: StackSpec, path: str | Path) -> Path:
    """A path of the command line, made absolute against the spec's folder (``~`` expanded)."""
    return Path(os.path.normpath(spec.root / Path(path).expanduser()))


def plan_request(opts: argparse.Namespace, **ops: Any) -> Selection:
    """The plan request of a stack verb: its selection options plus the verb's operations."""
    return Selection(
        include=opts.include,
        allow_missing=opts.allow_missing,
        reset_lock=getattr(opts, "reset_lock", ()),
        **ops,
    )


def publish_request(opts: argparse.Namespace, **ops: Any) -> Selection:
    """A plan request that publishes (or exports) the selection, with ``--publish-*`` options."""
    return plan_request(
        opts,
        publish=True,
        publish_dependencies=opts.publish_dependencies,
        publish_derived=opts.publish_derived,
        **ops,
    )


def publishing(
    spec: StackSpec,
    opts: argparse.Namespace,
    plan: Selection,
    *,
    force: bool,
    dry_run: bool = False,
    **steps: Any,
) -> pipeline.StackRequest:
    """The request of a verb that publishes: the publish options, and the push (``--to``).

    ``steps`` are the request's other steps (``lock=``, ``build=``). The output folder is the
    spec's (``--output-dir`` applied by :func:`open_session`); local ``--delta-from`` sources
    are relative to the spec's folder too.
    """
    from envstacks.stages.packing.publisher import PublishOptions  # noqa: PLC0415

    publish = PublishOptions(
        format_name=opts.format_name,
        compression=opts.compression,
        compression_from="--compression",
        tag_outputs=opts.tag_outputs,
        force=force,
        dry_run=dry_run,
        verify=getattr(opts, "verify", False),
        delta_from=tuple(
            source if "://" in source else str(spec_relative(spec, source))
            for source in getattr(opts, "delta_from", ())
        ),
    )
    push = (
        _push_options(opts.push_to, opts.insecure, tuple(getattr(opts, "mount_from", ())))
        if opts.push_to
        else None
    )
    return pipeline.StackRequest(
        plan=plan, publish=publish, push=push, insecure=opts.insecure, **steps
    )


def _push_options(target: str, insecure: bool, mount_from: tuple[str, ...]) -> Any:
    """The push of ``--to`` (the registry client's module loads only when a run pushes)."""
    from envstacks.stages.oci import PushOptions  # noqa: PLC0415

    return PushOptions(target=target, insecure=insecure, mount_from=mount_from)


def finish(inv: Invocation, as_json: bool, data: Any, lines: list[str]) -> int:
    """Print a verb's result: ``data`` as JSON when asked (``as_json``), else ``lines``; 0.

    ``-q`` drops the per-layer lines (JSON output is what was asked for). The stack verbs ask
    with ``--json-results`` (their ``--json`` is venvstacks' status JSON), the verbs on
    published folders with ``--json``.
    """
    if as_json:
        print_json(inv.out, data)
    elif not inv.quiet:
        write_lines(inv.out, lines)
    return 0


def shown(
    inv: Invocation,
    opts: argparse.Namespace,
    session: Session,
    plan: Plan,
    request: pipeline.StackRequest,
) -> bool:
    """Print the selection for ``--show``/``--show-only``/``--json``; True to stop there.

    As in venvstacks: ``--json`` prints the status as JSON rather than as a tree, and without
    ``--show`` it stops after that, as ``--show-only`` does. The tree marks the builds that
    would change nothing ``up to date`` (the JSON keeps venvstacks' operation labels).
    """
    if not (opts.show or opts.show_only or opts.json):
        return False
    from envstacks.orchestrator.status import render_tree  # noqa: PLC0415 - only to show

    status = session.status(plan, with_operations=True)
    if opts.json:
        print_json(inv.out, status.to_json())
    else:
        current = pipeline.builds_up_to_date(session, plan, request.build)
        inv.out.write(render_tree(status, current))
    return bool(opts.show_only or (opts.json and not opts.show))


#: Turns a run's result into what the verb prints: (JSON data, text lines).
Summary = Callable[[pipeline.StackResult], tuple[Any, list[str]]]


def run_stack(
    inv: Invocation,
    opts: argparse.Namespace,
    make_request: Callable[[StackSpec], pipeline.StackRequest],
    summary: Summary,
    *,
    verb: str,
    output: str | None = None,
) -> int:
    """Plan, handle ``--show``/``--show-only``/``--json``, run, print the results; the status.

    ``make_request`` turns the options into the run's request once the spec is read (its
    folder is what relative paths start from); ``output`` is as for :func:`open_session`.
    The end line (what changed, how long it took) and the usual next command (not with
    ``--json-results`` or ``-q``) go to the reporter, so standard output holds only the
    results.
    """
    started = time.monotonic()
    session = open_session(inv, opts, output=output)
    request = make_request(session.spec)
    plan = session.plan(request.plan)
    if shown(inv, opts, session, plan, request):
        return 0
    result = pipeline.run(session, request, plan)
    data, lines = summary(result)
    status = finish(inv, opts.json_results, data, lines)
    inv.reporter.info(stack_summary(result, time.monotonic() - started))
    if not (opts.json_results or inv.quiet):
        command = next_command(verb, result, prog=inv.prog, include=opts.include)
        if command is not None:
            inv.reporter.info(f"next: {command}")
    return status
