"""The verbs (show, lock, build...): one argument definition and handler each, for CLI and PDM.

The standalone CLI and the PDM command group both build their parsers from :data:`VERBS`, so
the two front-ends take the same options and print the same output.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pluggy

from envstacks import pipeline
from envstacks.build import BuildOptions
from envstacks.lock import LockOptions
from envstacks.plan import Op, Plan, Request, make_plan
from envstacks.report import Reporter
from envstacks.spec.model import StackSpec
from envstacks.status import render_tree


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """What a front-end hands a verb: how to get the stack, where output goes, which plugins."""

    #: Loads the stack (from the SPEC argument in the CLI, from the project in PDM).
    load_spec: Callable[[], StackSpec]
    reporter: Reporter
    #: Where results (trees, JSON) are written: stdout.
    out: TextIO
    pm_factory: Callable[[], pluggy.PluginManager]
    #: Builds the project's own wheel when a layer requires the project (front-end specific).
    project_wheel_builder: pipeline.WheelBuilder | None = None


Handler = Callable[[Invocation, argparse.Namespace], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verb:
    """One subcommand: its help, its arguments and its handler."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    #: Whether the verb works on a stack spec (deploy works on published archives instead).
    uses_spec: bool = True


# -- JSON ------------------------------------------------------------------------------------


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


# -- shared arguments ------------------------------------------------------------------------


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only these layers (fnmatch on build names such as 'app-*'; repeatable), "
        "with the layers they need and the layers built on them",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="warn instead of failing when a pattern matches no layer",
    )


def _show_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", action="store_true", help="print the planned operations first")
    group.add_argument(
        "--show-only", action="store_true", help="print the planned operations and stop"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _build_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="folder for layer environments (default: the build-dir setting, '_build')",
    )


def _output_dir(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help=f"destination folder (default: {default})"
    )


def _index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-index",
        dest="index",
        action="store_false",
        help="do not query package indexes (use --local-wheels and find-links only)",
    )
    parser.add_argument(
        "--local-wheels",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="a folder of wheels to lock against (repeatable)",
    )


def _reset_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reset-lock",
        action="append",
        default=[],
        metavar="PATTERN",
        help="discard the existing lock of matching layers before locking them (repeatable)",
    )


def _publish_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        dest="format_name",
        metavar="NAME",
        help="archive format: tar.zst, tar.xz, zip or a plugin's (default: archive-format setting)",
    )
    parser.add_argument(
        "--tag-outputs",
        action="store_true",
        help="add the platform and build number to archive and metadata names",
    )


def _add_show(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    parser.add_argument("--json", action="store_true", help="print venvstacks' status JSON")


def _add_lock(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    parser.add_argument(
        "--if-needed", action="store_true", help="only lock layers whose lock is missing or stale"
    )
    _reset_lock(parser)
    parser.add_argument(
        "--lock-dependencies",
        action="store_true",
        help="fully relock the dependencies of included layers too",
    )
    _index_options(parser)
    _show_options(parser)


def _add_build(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the output-dir setting")
    parser.add_argument(
        "--lock-if-needed",
        "--lock",
        dest="lock_if_needed",
        action="store_true",
        help="lock layers whose lock is missing or stale before building",
    )
    _reset_lock(parser)
    parser.add_argument(
        "--clean", action="store_true", help="delete and recreate the selected environments"
    )
    parser.add_argument("--publish", action="store_true", help="publish archives after building")
    _publish_options(parser)
    for what in ("build", "publish"):
        parser.add_argument(
            f"--{what}-dependencies",
            action="store_true",
            help=f"also {what} the layers the included layers need",
        )
        parser.add_argument(
            f"--{what}-derived",
            action="store_true",
            help=f"also {what} the layers built on the included layers",
        )
    parser.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="layers built at once (default: 2)"
    )
    _index_options(parser)
    _show_options(parser)


def _add_publish(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the output-dir setting")
    _publish_options(parser)
    parser.add_argument(
        "--force", action="store_true", help="rebuild archives even if nothing changed"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be published and stop"
    )
    parser.add_argument(
        "--publish-dependencies",
        action="store_true",
        help="also publish the layers the included layers need",
    )
    parser.add_argument(
        "--publish-derived",
        action="store_true",
        help="also publish the layers built on the included layers",
    )
    _show_options(parser)


def _add_export(parser: argparse.ArgumentParser) -> None:
    _selection(parser)
    _build_dir(parser)
    _output_dir(parser, "the export-dir setting, '_export'")
    parser.add_argument("--force", action="store_true", help="export even if nothing changed")
    parser.add_argument(
        "--export-dependencies",
        dest="publish_dependencies",
        action="store_true",
        help="also export the layers the included layers need",
    )
    parser.add_argument(
        "--export-derived",
        dest="publish_derived",
        action="store_true",
        help="also export the layers built on the included layers",
    )
    _show_options(parser)


def _add_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a publish output folder, a manifest file, or an http(s):// or file:// base URL",
    )
    parser.add_argument(
        "--target", type=Path, required=True, metavar="DIR", help="the deployment folder"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="deploy only matching layers and the layers they need (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


# -- handlers --------------------------------------------------------------------------------


def _session(inv: Invocation, opts: argparse.Namespace) -> pipeline.Session:
    spec = pipeline.with_dirs(
        inv.load_spec(),
        build_dir=getattr(opts, "build_dir", None),
    )
    for warning in spec.warnings:
        inv.reporter.warning(warning)
    return pipeline.Session(
        spec=spec,
        pm=inv.pm_factory(),
        reporter=inv.reporter,
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


def run_publish(inv: Invocation, opts: argparse.Namespace) -> int:
    """``publish``: pack built layers into reproducible archives with their metadata."""
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
        return 0
    result = pipeline.publish(
        session,
        plan,
        output_dir=opts.output_dir.expanduser().resolve() if opts.output_dir else None,
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
        return 0
    results = pipeline.local_export(
        session,
        plan,
        output_dir=opts.output_dir.expanduser().resolve() if opts.output_dir else None,
        force=opts.force,
    )
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
    )
    if opts.json:
        print_json(inv.out, result)
    else:
        for line in result.describe():
            inv.out.write(line + "\n")
    return 0


VERBS: tuple[Verb, ...] = (
    Verb(
        name="show",
        help="show the layers of the stack and their lock status",
        add_arguments=_add_show,
        handler=run_show,
    ),
    Verb(
        name="lock",
        help="lock the layers' requirements with uv",
        add_arguments=_add_lock,
        handler=run_lock,
    ),
    Verb(
        name="build",
        help="build the layer environments",
        add_arguments=_add_build,
        handler=run_build,
    ),
    Verb(
        name="publish",
        help="pack built layers into archives with metadata",
        add_arguments=_add_publish,
        handler=run_publish,
    ),
    Verb(
        name="local-export",
        help="export built layers to a local folder, ready to run",
        add_arguments=_add_export,
        handler=run_export,
    ),
    Verb(
        name="deploy",
        help="install published layers into a deployment folder",
        add_arguments=_add_deploy,
        handler=run_deploy,
        uses_spec=False,
    ),
)


def verb(name: str) -> Verb:
    """The verb called ``name``."""
    for candidate in VERBS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def verb_names() -> Sequence[str]:
    """Names of all verbs, in help order."""
    return [v.name for v in VERBS]
