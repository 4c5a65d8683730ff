"""The docs run as written: every snippet a reader is meant to run is run here.

A page marks its snippets with HTML comments (invisible in the rendered docs) on the line
before the fenced block:

* ``<!-- test: run -->``: a shell snippet the reader runs; it is run with bash;
* ``<!-- test: file PATH -->``: a file the reader writes, at PATH (relative to the folder the
  reader is in at that point of the page);
* ``<!-- test: skip: REASON -->``: an illustration or an output, not run (REASON says why);
* ``<!-- test: python -->``: a Python example (a plugin), executed on its own;
* ``<!-- test: output -->``: what the commands before it print; the session's output must
  hold these lines as they are.

Every ``sh``, ``console``, ``bash`` or ``shell`` block must be marked ``run`` or ``skip``,
so a new snippet cannot go unnoticed. A page's ``run`` and ``file`` snippets make one
session: one bash script, in order, as a reader typing into one terminal, started in an
empty folder or a fresh clone of the repository (:data:`PAGES`). The clone is made by the
page's own ``git clone`` of the public URL, which git is told to fetch from a snapshot of
this checkout instead; ``uv tool``, Hatch and PDM keep their state in the session folder.
The sessions build real stacks from PyPI, so they are ``slow``; the checks of the markers,
of the files a page writes and of the Python examples run with the default tests.
"""

from __future__ import annotations

import inspect
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from envstacks.stages import stackspec as spec_loader

REPO = Path(__file__).parents[2]
#: The public URL the docs clone; the sessions fetch it from a snapshot of this checkout.
REPO_URL = "https://github.com/envstacks/envstacks"
SHELL_LANGUAGES = {"sh", "console", "bash", "shell"}
_MARKER = re.compile(r"^<!-- test: (?P<kind>run|file|skip|python|output)(?P<arg>.*?) -->$")
_FENCE = re.compile(r"^(?P<fence>```+)(?P<info>[^`]*)$")


@dataclass(frozen=True, slots=True)
class Snippet:
    """One fenced block of a page, with its marker (if any)."""

    page: str
    line: int
    info: str
    text: str
    kind: str | None = None
    arg: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    """How a page's session starts."""

    #: ``empty``: an empty folder; ``clone``: a fresh clone of the repository.
    start: str


#: Every page with ``run`` snippets, and where its reader starts.
PAGES = {
    "README.md": Page(start="clone"),
    "docs/getting-started.md": Page(start="empty"),
    "docs/hatch.md": Page(start="empty"),
    "docs/pdm.md": Page(start="empty"),
}


def snippets(page: str) -> list[Snippet]:
    """The fenced blocks of ``page`` (relative to the repository), in order."""
    lines = (REPO / page).read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index].strip())
        if opening is None:
            index += 1
            continue
        indent = len(lines[index]) - len(lines[index].lstrip())
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == opening["fence"])
        body = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        before = lines[index - 1].strip() if index else ""
        marker = _MARKER.match(before)
        found.append(
            Snippet(
                page=page,
                line=index + 1,
                info=opening["info"].strip(),
                text=body,
                kind=marker["kind"] if marker else None,
                arg=marker["arg"].strip() if marker else "",
            )
        )
        index = end + 1
    return found


def all_pages() -> list[str]:
    """README.md and every page under docs/."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", all_pages())
def test_every_shell_snippet_is_marked(page: str) -> None:
    problems = []
    for snippet in snippets(page):
        where = f"{page}:{snippet.line}"
        if snippet.info in SHELL_LANGUAGES and snippet.kind not in ("run", "skip"):
            problems.append(f"{where}: a {snippet.info} block needs <!-- test: run --> or skip")
        if snippet.kind == "skip" and not snippet.arg.startswith(":"):
            problems.append(f"{where}: say why: <!-- test: skip: REASON -->")
        if snippet.kind == "file" and not snippet.arg:
            problems.append(f"{where}: name the file: <!-- test: file PATH -->")
        if snippet.kind == "python" and snippet.info != "python":
            problems.append(f"{where}: <!-- test: python --> marks a python block")
    has_run = any(s.kind in ("run", "file") for s in snippets(page))
    if has_run and page not in PAGES:
        problems.append(f"{page}: has run snippets but no entry in PAGES")
    assert not problems, "\n".join(problems)


def test_getting_started_files_make_a_valid_stack(tmp_path: Path) -> None:
    """The stack the page writes loads, with the layers the page goes on to use."""
    for snippet in snippets("docs/getting-started.md"):
        if snippet.kind == "file":
            path = tmp_path / snippet.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(snippet.text, encoding="utf-8")
    stack = spec_loader.load(tmp_path)
    assert [layer.build_name for layer in stack.layers] == [
        "cpython-3.12",
        "framework-scipy",
        "app-stats",
    ]
    compile((tmp_path / "src" / "stats.py").read_text(encoding="utf-8"), "stats.py", "exec")


def _python_snippets() -> list[Snippet]:
    return [s for page in all_pages() for s in snippets(page) if s.kind == "python"]


@pytest.mark.parametrize("snippet", _python_snippets(), ids=lambda s: f"{s.page}:{s.line}")
def test_python_examples_run(snippet: Snippet) -> None:
    """Each plugin example runs, registers with the plugin manager, and its hooks answer."""
    from envstacks.orchestrator.plugins import get_plugin_manager

    module = types.ModuleType(f"docs_example_{snippet.line}")
    exec(compile(snippet.text, f"{snippet.page}:{snippet.line}", "exec"), module.__dict__)
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(module)  # pluggy checks the hook names and their arguments
    pm.check_pending()
    for name, value in vars(module).items():
        if name.startswith("envstacks_") and not inspect.signature(value).parameters:
            assert value(), f"{name}() of {snippet.page}:{snippet.line} answers nothing"


# -- sessions ------------------------------------------------------------------------------


def session_script(page: str) -> str:
    """The bash script a reader of ``page`` types: its run and file snippets, in order.

    Each snippet is announced with its line and timed, so a failure names the snippet and
    the log shows how long each took.
    """
    parts = ["set -euo pipefail"]
    for number, snippet in enumerate(snippets(page)):
        if snippet.kind not in ("run", "file"):
            continue
        parts.append(f'echo "### {page}:{snippet.line} ($(date +%s.%N))"')
        if snippet.kind == "run":
            parts.append(snippet.text)
        else:
            delimiter = f"ENVSTACKS_DOCS_FILE_{number}"
            parts.append(f'mkdir -p "$(dirname {snippet.arg})"')
            parts.append(f"cat > {snippet.arg} <<'{delimiter}'\n{snippet.text}{delimiter}")
    parts.append('echo "### end ($(date +%s.%N))"')
    return "\n".join(parts) + "\n"


def _snapshot(dest: Path) -> Path:
    """A git repository holding this checkout's files as they are now (edits included)."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("the docs clone the repository: needs a git checkout and git")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=docs", "-c", "user.email=docs@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *args], cwd=dest, check=True)
    return dest


def session_environ(root: Path, snapshot: Path) -> dict[str, str]:
    """The session's environment: this Python first on PATH, tools' state kept in ``root``."""
    from uv import find_uv_bin

    tools = root / "tools"
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "uv").symlink_to(find_uv_bin())
    hatch_config = root / "hatch" / "config.toml"
    hatch_config.parent.mkdir(parents=True)
    hatch_config.touch()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON", "HATCH_", "PDM_", "PIP_"))
    }
    env.update(
        PATH=os.pathsep.join([str(bin_dir), str(tools / "bin"), os.environ.get("PATH", "")]),
        UV_TOOL_DIR=str(tools / "uv"),
        UV_TOOL_BIN_DIR=str(tools / "bin"),
        HATCH_DATA_DIR=str(root / "hatch" / "data"),
        HATCH_CACHE_DIR=str(root / "hatch" / "cache"),
        HATCH_CONFIG=str(hatch_config),
        PDM_CONFIG_FILE=str(root / "pdm" / "config.toml"),
        PDM_CACHE_DIR=str(root / "pdm" / "cache"),
        PDM_CHECK_UPDATE="false",
        NO_COLOR="1",
        UV_PYTHON_DOWNLOADS="never",
        # The page's `git clone <public URL>` fetches the snapshot of this checkout.
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{snapshot.as_uri()}.insteadOf",
        GIT_CONFIG_VALUE_0=REPO_URL,
    )
    return env


def run_session(page: str, root: Path) -> tuple[str, list[tuple[str, float]]]:
    """Run ``page``'s session in ``root``; its log and the seconds each snippet took."""
    snapshot = _snapshot(root / "snapshot")
    env = session_environ(root / "state", snapshot)
    work = root / "reader"
    if PAGES[page].start == "clone":
        subprocess.run(["git", "clone", "-q", REPO_URL, str(work)], env=env, check=True)
    else:
        work.mkdir()
    script = root / "session.sh"
    script.write_text(session_script(page), encoding="utf-8")
    log = root / "session.log"
    with log.open("w") as out:
        done = subprocess.run(
            ["bash", str(script)], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
            timeout=3600, check=False,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, f"{page} does not run as written:\n{text[-6000:]}"
    for snippet in snippets(page):
        if snippet.kind == "output":
            assert snippet.text in text, f"{page}:{snippet.line}: not printed as shown:\n{text}"
    marks = re.findall(r"^### (\S+) \((\d+\.\d+)\)$", text, flags=re.MULTILINE)
    times = [
        (where, float(end) - float(start)) for (where, start), (_, end) in itertools.pairwise(marks)
    ]
    return text, times


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_runs_as_written(
    page: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    _, times = run_session(page, tmp_path)
    with capsys.disabled():
        print(f"\n{page}: {time.monotonic() - started:.0f} s")
        for where, seconds in times:
            print(f"  {where}: {seconds:.1f} s")
