"""Put a layer folder under its final name and make it runnable; undo what a killed deploy left.

Placing a layer (deploy and local-export alike) goes: move the copy under the final name, if
any, aside to a temporary name beside it; rename the new folder into place; run its
``postinstall.py``; drop the old copy. If postinstall fails, the new copy is removed and the
old one moved back. Deploy records the step it is in
(:mod:`envstacks.stages.deploying.deploy_record`) before the first rename and after postinstall, so
:func:`recover` can undo a placement a killed run left half-way: it restores exactly the aside
folder the record names. Whatever else a dead run left (work folders, old copies no record needs)
has a temporary name, and
:func:`envstacks.floor.fs.remove_stale_temporaries` removes it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from envstacks.floor import bounded_json, proc
from envstacks.floor.errors import EnvStacksError, NoSpaceError
from envstacks.floor.fs import discard, fsync_dir, remove_stale_temporaries, temporary_name
from envstacks.floor.report import Reporter
from envstacks.floor.work_folders import is_full
from envstacks.published.layer_config import LAYER_CONFIG, MAX_LAYER_CONFIG, POSTINSTALL
from envstacks.published.publish_folder import METADATA_DIR
from envstacks.stages.deploying.deploy_record import (
    LEGACY_ASIDE_PREFIX,
    DeployedLayer,
    Deployment,
    legacy_aside,
)


def aside_path(final: Path) -> Path | None:
    """Where the copy under ``final`` is moved while its replacement is placed (None: no copy)."""
    if not os.path.lexists(final):
        return None
    return final.parent / temporary_name(final.name)


def place_layer(
    staged: Path,
    final: Path,
    *,
    aside: Path | None,
    configure: Callable[[], None],
    configured: Callable[[], None] | None = None,
    keep_aside: bool = False,
) -> None:
    """Put ``staged`` under the name ``final`` and run ``configure``; keep the old copy until then.

    Args:
        staged: the new layer folder, in the same folder as ``final``.
        final: the layer's final place.
        aside: where the copy now under ``final`` goes meanwhile (:func:`aside_path`).
        configure: makes the placed layer runnable (its postinstall); if it raises, the new
            copy is removed, the old one moved back, and the error raised again.
        configured: called once ``configure`` succeeded, before the old copy is dropped.
        keep_aside: leave the old copy at ``aside`` (the caller drops it, or puts it back with
            :func:`undo_placement`, once it knows whether the whole deploy succeeded).
    """
    if aside is not None:
        final.rename(aside)
    try:
        staged.rename(final)
        fsync_dir(final.parent)
        configure()
    except BaseException:
        discard(final)
        if aside is not None:
            aside.rename(final)
            fsync_dir(final.parent)
        raise
    if configured is not None:
        configured()
    if aside is not None and not keep_aside:
        discard(aside)


def undo_placement(deployment: Deployment, placing: DeployedLayer) -> None:
    """Put back what a layer placed by this run replaced (nothing: remove it), crash-safe.

    ``placing`` is the "installing" record written before the layer was placed (naming the
    previous version and its aside folder, kept by ``place_layer(keep_aside=True)``). It is
    written again first, so a run killed while undoing is rolled back by :func:`recover`.
    """
    deployment.put(placing)
    restored = _roll_back(deployment.target, placing)
    fsync_dir(deployment.target)
    if restored is not None:
        deployment.put(restored)
    else:
        deployment.drop(placing.install_target)


def recover(deployment: Deployment, reporter: Reporter) -> None:
    """Repair what an interrupted deploy left behind in ``deployment``'s folder.

    A layer caught between "installing" and "installed" is rolled back: the folder its record
    says the previous version was moved aside to is put back (or, with no previous version, the
    unfinished copy is removed). Then every temporary a dead run left is removed.

    Raises:
        DeployError: a record written before records named the aside folder leaves several
            candidates (see :func:`envstacks.stages.deploying.deploy_record.legacy_aside`).
    """
    target = deployment.target
    for name, record in deployment.records.items():
        if record.state != "installing":
            continue
        restored = _roll_back(target, record)
        if restored is not None:
            deployment.put(restored)
        else:
            deployment.drop(name)
        reporter.warning(
            f"layer {name!r} was left half-deployed by an interrupted deploy; "
            + ("restored the previous version" if restored is not None else "removed it")
        )
    for folder in (target, target / METADATA_DIR):  # the record is written through temporaries
        for path in remove_stale_temporaries(folder):
            reporter.debug(f"removed {path.name}, left by an interrupted deploy")
    for entry in list(target.iterdir()):  # left unrestored by envstacks before ``aside``
        if entry.name.startswith(LEGACY_ASIDE_PREFIX):
            discard(entry)
    fsync_dir(target)


def _roll_back(target: Path, record: DeployedLayer) -> DeployedLayer | None:
    """Undo one unfinished placement; return the record that holds now (None: no layer)."""
    final = target / record.install_target
    aside = record.aside
    if aside is None and record.previous is not None:
        aside = legacy_aside(target, record.install_target)
    if aside is not None and os.path.lexists(target / aside):
        discard(final)
        (target / aside).rename(final)
    elif record.previous is None:
        discard(final)  # a first install: the unfinished copy goes
    # Otherwise the previous version was never moved: it is still in place.
    return record.previous if record.previous is not None and final.is_dir() else None


def run_postinstall(
    layer_dir: Path,
    *,
    python: Path,
    what: str,
    reporter: Reporter,
    error: type[EnvStacksError],
) -> None:
    """Run a placed layer's ``postinstall.py`` (stdlib-only: any Python 3 can run it).

    ``what`` names the layer in messages (``"layer 'app-x'"``).

    Raises:
        EnvStacksError: (``error``) the script failed.
    """
    script = layer_dir / POSTINSTALL
    if not script.is_file():
        reporter.warning(f"{what} has no {POSTINSTALL}; not configured")
        return
    try:
        if _is_ours(script):
            # The very script this envstacks ships: run its code here, without starting an
            # interpreter (it compiles with the layer's runtime itself when it must).
            reporter.debug(f"running {script} in this process (envstacks' own postinstall)")
            _postinstall_here(layer_dir, what=what, error=error)
        else:
            proc.run(
                # -I: ignore PYTHON* settings and the user's site-packages; -S: the script is
                # stdlib-only, so importing site would only cost start-up time.
                [python, "-X", "utf8", "-I", "-S", script],
                cwd=layer_dir,
                reporter=reporter,
                what=f"run {POSTINSTALL} of {what}",
                error=error,
            )
    except EnvStacksError as exc:
        if not is_full(layer_dir.parent):
            raise
        # The script's own OSError arrives as an exit status: say what it means and the fix.
        raise NoSpaceError(
            f"{what}: {POSTINSTALL} failed: the file system of {layer_dir.parent} is full; "
            f"{exc.message}",
            hint="free some space there (or use a folder on another file system), then run "
            "again; the layer was not left half-configured under its name",
        ) from exc


def _is_ours(script: Path) -> bool:
    """Whether ``script`` is byte for byte the ``postinstall.py`` this envstacks ships."""
    try:
        return script.read_bytes() == _our_postinstall()
    except OSError:
        return False


@functools.cache
def _our_postinstall() -> bytes:
    from envstacks._injected import postinstall  # noqa: PLC0415 - only placing needs it

    return Path(postinstall.__file__).read_bytes()


def _postinstall_here(layer_dir: Path, *, what: str, error: type[EnvStacksError]) -> None:
    """Run envstacks' own postinstall code for ``layer_dir`` in this process.

    Raises:
        EnvStacksError: (``error``) the layer cannot be configured (what the script would
            have printed before exiting with status 1).
        OSError: the file system refused a write (``floor.work_folders`` explains it).
    """
    from envstacks._injected import postinstall  # noqa: PLC0415 - only placing needs it

    try:
        postinstall.postinstall(os.fspath(layer_dir))
    except OSError:
        raise
    except Exception as exc:  # the layer's own data is wrong: say so, as the script would
        raise error(
            f"failed to run {POSTINSTALL} of {what}: {exc}",
            hint="the layer's metadata does not describe a deployable layer; republish it "
            "from its build folder",
        ) from exc


def postinstall_python(target: Path, install_target: str, runtime_layer: str) -> Path | None:
    """The interpreter that configures a deployed layer (None: its runtime has none).

    A runtime's script runs with the Python running envstacks; every other layer's with its
    deployed runtime's interpreter, which also proves that runtime works.
    """
    if runtime_layer == install_target:
        return Path(sys.executable)
    return runtime_python(target / runtime_layer)


def runtime_python(runtime_dir: Path) -> Path | None:
    """The interpreter of a deployed runtime layer: its config's ``python``, or a usual name.

    Only a file inside the runtime layer counts (symlinks resolved): a config naming another
    layer's or the system's program is passed over.
    """
    candidates: list[str] = []
    try:
        config = bounded_json.read_file(runtime_dir / LAYER_CONFIG, max_bytes=MAX_LAYER_CONFIG)
        if isinstance(config.get("python"), str):
            candidates.append(config["python"])
    except (OSError, EnvStacksError, AttributeError):
        pass
    candidates += ["bin/python3", "bin/python", "python.exe"]
    inside = os.path.realpath(runtime_dir)
    for relative in candidates:
        path = runtime_dir / relative
        real = os.path.realpath(path)
        if os.path.commonpath([inside, real]) != inside:
            continue
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None
