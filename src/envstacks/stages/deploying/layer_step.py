"""Run a placed layer's own post-install step: the ``postinstall_script`` the build copied into it.

Deploy and local-export call :func:`run_layer_step` right after envstacks' own postinstall,
while the layer is being placed (:func:`envstacks.stages.deploying.placement.place_layer`), so a
failing step is undone like a failing postinstall: the new copy is removed and the previous
version (if any) comes back; the deployment record does not list the new one, and the next
deploy installs it again. ``deploy --no-postinstall`` and ``local-export --no-postinstall`` run
no step.

The step is the one ``.py`` file in the layer's ``share/venv/postinstall/``. It runs with the
layer's own interpreter (the layer's packages and those of the layers below it importable), in
the layer's folder, given that folder as its first argument and in ``ENVSTACKS_LAYER_PATH``,
its standard input empty. Each line it prints is reported prefixed with the layer's name. It
has ``ENVSTACKS_POSTINSTALL_TIMEOUT`` seconds (600 by default, ``inf`` for no bound) before it
is stopped with every process it started.
"""

from __future__ import annotations

import collections
from pathlib import Path

from envstacks.floor import env_settings, proc
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import LAYER_STEP_DIR, PYTHON, read_layer_config

__all__ = ["DEFAULT_TIMEOUT", "LAYER_PATH_VARIABLE", "TIMEOUT_VARIABLE", "run_layer_step"]

#: The variable that bounds a step's run time (seconds).
TIMEOUT_VARIABLE = "ENVSTACKS_POSTINSTALL_TIMEOUT"
#: Its default: ten minutes (a step may download or compile something big).
DEFAULT_TIMEOUT = 600.0
#: The variable that gives the step the layer's folder.
LAYER_PATH_VARIABLE = "ENVSTACKS_LAYER_PATH"
#: Lines of the step's output repeated in the error when it fails.
_TAIL = 20


def layer_step(layer_dir: Path, *, what: str, error: type[EnvStacksError]) -> Path | None:
    """The layer's own post-install step, if it has one.

    Raises:
        EnvStacksError: (``error``) the step folder holds something else than one ``.py`` file.
    """
    folder = layer_dir / LAYER_STEP_DIR
    if not folder.is_dir() or folder.is_symlink():
        return None
    entries = sorted(folder.iterdir())
    if len(entries) != 1 or entries[0].suffix != ".py" or not _is_plain_file(entries[0]):
        names = ", ".join(entry.name for entry in entries) or "nothing"
        raise error(
            f"{what}: {LAYER_STEP_DIR}/ must hold one .py file (its postinstall_script), "
            f"found {names}",
            hint="the layer was not built by envstacks or was tampered with; publish it again",
        )
    return entries[0]


def _is_plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def run_layer_step(
    layer_dir: Path,
    *,
    label: str,
    what: str,
    reporter: Reporter,
    error: type[EnvStacksError],
) -> None:
    """Run the layer's own post-install step (nothing when it has none).

    ``label`` prefixes the step's output lines (the layer's name); ``what`` names the layer in
    messages (``"layer 'app-x'"``).

    Raises:
        SettingError: ``ENVSTACKS_POSTINSTALL_TIMEOUT`` is not a number of seconds.
        EnvStacksError: (``error``) the step failed, ran out of time or cannot run.
    """
    script = layer_step(layer_dir, what=what, error=error)
    if script is None:
        return
    timeout = env_settings.seconds(TIMEOUT_VARIABLE, default=DEFAULT_TIMEOUT, positive=True)
    try:
        python = layer_dir / read_layer_config(layer_dir).python
    except EnvStacksError:
        python = layer_dir / PYTHON
    relative = script.relative_to(layer_dir).as_posix()
    step = f"{what}: its postinstall_script {script.name} ({relative})"
    last: collections.deque[str] = collections.deque(maxlen=_TAIL)

    def show(line: str) -> None:
        last.append(line)
        reporter.info(f"{label}: {line}")

    reporter.debug(f"{label}: running its postinstall_script {relative}")
    status = proc.stream(
        # -X utf8: the same text encoding whatever the machine's locale.
        [python, "-X", "utf8", script, layer_dir],
        on_line=show,
        cwd=layer_dir,
        env=proc.clean_environ({LAYER_PATH_VARIABLE: str(layer_dir)}),
        reporter=reporter,
        timeout=timeout,
    )
    if status == 0:
        return
    output = "".join(f"\n  {line}" for line in last)
    ending = f"; its last lines:{output}" if output else " (it printed nothing)"
    if status is None:
        raise error(
            f"{step} did not finish within {timeout:g} s and was stopped{ending}",
            hint=f"make it faster, or give it more time with {TIMEOUT_VARIABLE}=<seconds>; "
            "the new layer was not kept: running again installs it again",
        )
    raise error(
        f"{step} failed with exit status {status}{ending}",
        hint="fix the script and publish the layer again (or deploy with --no-postinstall to "
        "skip it); the new layer was not kept: running again installs it again",
    )
