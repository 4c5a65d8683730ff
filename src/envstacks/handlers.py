"""The handlers of the verbs: translate parsed options into pipeline calls and print results.

Imported only when a verb runs, so that building a parser (the PDM plugin does it at every
``pdm`` start) stays cheap.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from envstacks import pipeline
from envstacks.build import BuildOptions
from envstacks.commands import Invocation
from envstacks.lock import LockOptions
from envstacks.plan import Op, Plan, Request, make_plan
from envstacks.report import Reporter
from envstacks.spec.model import StackSpec
from envstacks.status import render_tree


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


def _session(inv: Invocation, opts: argparse.Namespace) -> pipeline.Session:
    spec = pipeline.with_dirs(inv.load_spec(), build_dir=getattr(opts, "build_dir", None))
    return pipeline.open_session(
        spec,
        reporter=inv.reporter,
        pm=inv.pm_factory(),
        project_wheel_builder=inv.project_wheel_builder,
    )


def _plan(spec: StackSpec, opts: argparse.Namespace, reporter: Reporter, **ops: Any) -> Plan:
    request = Request(
        include=opts.include,
        allow_missing=opts.allow_missing,
        reset_lock=getattr(opts, "reset_lock", ()),
        **ops,
    )
    plan = make_plan(spec, request)
    for pattern in plan.unmatched:
        reporter.warning(f"no layer matches {pattern!r}")
    return plan


def _shown(
    inv: Invocation, opts: argparse.Namespace, session: pipeline.Session, plan: Plan
) -> bool:
    """Print the plan for --show/--show-only; True when the command should stop here."""
    if not (opts.show or opts.show_only):
        return False
    status = pipeline.status(session.spec, plan, with_operations=True)
    if opts.json and opts.show_only:
        print_json(inv.out, status.to_json())
    else:
        inv.out.write(render_tree(status))
    return bool(opts.show_only)


def run_show(inv: Invocation, opts: argparse.Namespace) -> int:
    """``show``: the layers, their dependencies in sys.path order, and lock validity."""
    spec = inv.load_spec()
    for warning in spec.warnings:
        inv.reporter.warning(warning)
    plan = (
        pipeline.show_plan(spec, opts.include, allow_missing=opts.allow_missing)
        if opts.include
        else None
    )
    status = pipeline.status(spec, plan)
    if opts.json:
        print_json(inv.out, status.to_json())
    else:
        inv.out.write(render_tree(status))
    return 0


def _lock_options(opts: argparse.Namespace) -> LockOptions:
    return LockOptions(
        index=opts.index, local_wheels=tuple(p.expanduser().resolve() for p in opts.local_wheels)
    )


def run_lock(inv: Invocation, opts: argparse.Namespace) -> int:
    """``lock``: resolve every selected layer with uv into committed pylock files."""
    session = _session(inv, opts)
    plan = _plan(
        session.spec,
        opts,
        inv.reporter,
        lock=Op.IF_NEEDED if opts.if_needed else Op.RUN,
        lock_dependencies=opts.lock_dependencies,
    )
    if _shown(inv, opts, session, plan):
        return 0
    results = pipeline.lock(session, plan, _lock_options(opts))
    if opts.json:
        print_json(inv.out, {"locked": results})
    else:
        for result in results:
            state = result.state
            what = "locked" if result.changed else ("checked" if result.ran_uv else "valid")
            inv.out.write(
                f"{what}: {result.layer} ({state.install_target}, locked at {state.locked_at})\n"
            )
    return 0


def run_build(inv: Invocation, opts: argparse.Namespace) -> int:
    """``build``: (lock if asked,) build the layer environments (and publish with --publish)."""
    session = _session(inv, opts)
    plan = _plan(
        session.spec,
        opts,
        inv.reporter,
        lock=Op.IF_NEEDED if opts.lock_if_needed or opts.reset_lock else Op.SKIP,
        build=Op.RUN,
        publish=opts.publish,
        build_dependencies=opts.build_dependencies,
        publish_dependencies=opts.publish_dependencies,
        build_derived=opts.build_derived,
        publish_derived=opts.publish_derived,
    )
    if _shown(inv, opts, session, plan):
        return 0
    summary: dict[str, Any] = {}
    if plan.to_lock():
        summary["locked"] = pipeline.lock(session, plan, _lock_options(opts))
    summary["built"] = pipeline.build(
        session, plan, BuildOptions(clean=opts.clean, jobs=max(1, opts.jobs))
    )
    if opts.publish:
        summary["published"] = pipeline.publish(
            session,
            plan,
            output_dir=opts.output_dir.expanduser().resolve() if opts.output_dir else None,
            format_name=opts.format_name,
            tag_outputs=opts.tag_outputs,
            force=opts.clean,
        )
    if opts.json:
        print_json(inv.out, summary)
    else:
        for result in summary["built"]:
            state = "built" if result.built else "up to date"
            inv.out.write(f"{state}: {result.layer} ({result.env_path})\n")
        if "published" in summary:
            _print_published(inv.out, summary["published"])
    return 0


def _print_published(out: TextIO, result: Any) -> None:
    for line in result.describe():
        out.write(line + "\n")


def _output_plan(
    inv: Invocation, opts: argparse.Namespace
) -> tuple[pipeline.Session, Plan, Path | None] | None:
    """Session, plan and ``--output-dir`` of publish and local-export (``None``: --show-only)."""
    session = _session(inv, opts)
    plan = _plan(
        session.spec,
        opts,
        inv.reporter,
        publish=True,
        publish_dependencies=opts.publish_dependencies,
        publish_derived=opts.publish_derived,
    )
    if _shown(inv, opts, session, plan):
        return None
    output_dir = opts.output_dir.expanduser().resolve() if opts.output_dir else None
    return session, plan, output_dir


def run_publish(inv: Invocation, opts: argparse.Namespace) -> int:
    """``publish``: pack built layers into reproducible archives with their metadata."""
    planned = _output_plan(inv, opts)
    if planned is None:
        return 0
    session, plan, output_dir = planned
    result = pipeline.publish(
        session,
        plan,
        output_dir=output_dir,
        format_name=opts.format_name,
        tag_outputs=opts.tag_outputs,
        force=opts.force,
        dry_run=opts.dry_run,
    )
    if opts.json:
        print_json(inv.out, result)
    else:
        _print_published(inv.out, result)
    return 0


def run_export(inv: Invocation, opts: argparse.Namespace) -> int:
    """``local-export``: copy built layers to a folder, linked and ready to run."""
    planned = _output_plan(inv, opts)
    if planned is None:
        return 0
    session, plan, output_dir = planned
    results = pipeline.local_export(session, plan, output_dir=output_dir, force=opts.force)
    if opts.json:
        print_json(inv.out, {"exported": results})
    else:
        for result in results:
            inv.out.write(f"{'exported' if result.exported else 'up to date'}: {result.path}\n")
    return 0


def run_deploy(inv: Invocation, opts: argparse.Namespace) -> int:
    """``deploy``: verify, unpack and link published layers into a deployment folder."""
    result = pipeline.deploy(
        opts.source,
        opts.target.expanduser().resolve(),
        include=opts.include,
        pm=inv.pm_factory(),
        reporter=inv.reporter,
        # With --json, refusals are part of the summary (and the exit status), not an error.
        raise_on_refusal=not opts.json,
    )
    if opts.json:
        print_json(inv.out, result)
        return 0 if result.ok else 1
    for line in result.describe():
        inv.out.write(line + "\n")
    return 0
