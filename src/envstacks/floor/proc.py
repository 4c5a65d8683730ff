"""Run external programs: every subprocess of envstacks goes through :func:`run` or :func:`stream`.

Both log the command line; :func:`run` captures the output, :func:`stream` hands it over line
by line while the program runs (a layer's own post-install step, which may take minutes).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from envstacks.floor.errors import EnvStacksError, ToolError
from envstacks.floor.report import NullReporter, Reporter

#: Variables that would make a child Python look at the wrong packages or settings.
_PYTHON_ENV_NOISE = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "__PYVENV_LAUNCHER__",
)


def clean_environ(
    extra: Mapping[str, str | None] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return a copy of the environment without Python-path noise, updated by ``extra``.

    A value of ``None`` in ``extra`` removes that variable.
    """
    env = dict(os.environ if base is None else base)
    for name in _PYTHON_ENV_NOISE:
        env.pop(name, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUTF8"] = "1"
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def format_argv(argv: Sequence[str | os.PathLike[str]]) -> str:
    """Render argv as a shell-quoted command line for logs and error messages."""
    return shlex.join(os.fspath(part) for part in argv)


def tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text`` (what a user needs from a long tool log)."""
    parts = text.strip().splitlines()
    if len(parts) <= lines:
        return "\n".join(parts)
    return "\n".join(["...", *parts[-lines:]])


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    check: bool = True,
    what: str | None = None,
    error: type[EnvStacksError] = ToolError,
    timeout: float | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell), log it, and raise ``error`` if it fails.

    Its output is captured as text (``stdout`` and ``stderr`` of the result).

    Args:
        argv: the program and its arguments.
        cwd: the working folder.
        env: the full environment (default: :func:`clean_environ`).
        reporter: receives the command line as a debug message.
        check: raise ``error`` on a non-zero exit status.
        what: what the command does, for the error message ("lock layer 'app-x'").
        error: the exception class to raise on failure.
        timeout: seconds before the command is killed.
        input: text written to the command's standard input (default: none).
    """
    args = _logged(argv, cwd, reporter)
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else clean_environ(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
        )
    except FileNotFoundError as exc:
        raise ToolError(
            f"cannot {what or 'run ' + args[0]}: program not found: {args[0]}",
            hint="install it or put it on PATH",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"cannot {what or 'run ' + args[0]}: timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        output = tail((result.stderr or "") + ("\n" + result.stdout if result.stdout else ""))
        raise error(
            f"failed to {what or 'run ' + args[0]} (exit status {result.returncode}):\n"
            f"  $ {format_argv(args)}\n" + _indent(output)
        )
    return result


def _logged(
    argv: Sequence[str | os.PathLike[str]], cwd: Path | None, reporter: Reporter | None
) -> list[str]:
    """``argv`` as strings, logged as a debug message."""
    args = [os.fspath(part) for part in argv]
    (reporter or NullReporter()).debug(f"$ {format_argv(args)}" + (f"  (in {cwd})" if cwd else ""))
    return args


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def stream(
    argv: Sequence[str | os.PathLike[str]],
    *,
    on_line: Callable[[str], None],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    timeout: float | None = None,
) -> int | None:
    """Run ``argv`` (never through a shell), passing each line it prints to ``on_line``.

    Its standard error is merged into its standard output; its standard input is empty. The
    program runs in a session of its own, so on ``timeout`` (seconds) it is killed with every
    process it started. Returns its exit status, or ``None`` when it was killed for the time
    limit.

    Raises:
        ToolError: the program does not exist.
    """
    args = _logged(argv, cwd, reporter)
    try:
        child = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else clean_environ(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"cannot run {args[0]}: program not found", hint="install it") from exc
    assert child.stdout is not None
    output = child.stdout

    def pump() -> None:
        for line in output:
            on_line(line.rstrip("\n"))

    reader = threading.Thread(target=pump, name="proc-stream", daemon=True)
    reader.start()
    try:
        status: int | None = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(child)
        child.wait()
        status = None
    except BaseException:  # Ctrl-C: the step and what it started stop too
        _kill_session(child)
        child.wait()
        raise
    # Whatever it started and left running may hold the pipe open: do not wait for them.
    reader.join(timeout=5)
    return status


def _kill_session(child: subprocess.Popen[str]) -> None:
    try:
        os.killpg(child.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    except OSError:
        child.kill()
