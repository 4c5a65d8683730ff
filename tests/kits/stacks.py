"""Helpers for build and export tests: write stacks, lock them for real, build wheels by hand.

Loaded by the ``kit`` fixture of ``tests/conftest.py`` (the test suite uses
``--import-mode=importlib``, so helper modules are loaded from their path).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sysconfig
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.building import BuildOptions, BuildResult, LayerToBuild, build_layers
from envstacks.stages.locking import LockOptions, LockRequest, lock_layers, lock_states
from envstacks.stages.runtime.provision import provision_runtime, runtime_python
from envstacks.stages.stackspec import load, stack_paths
from envstacks.stages.stackspec.model import RuntimeSpec, StackSpec


def make_wheel(
    dest: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    tag: str = "py3-none-any",
    requires: Sequence[str] = (),
    fields: Sequence[str] = (),
) -> Path:
    """Write a wheel by hand (zip + WHEEL/METADATA/RECORD), no build backend needed.

    ``fields`` are more core metadata lines (``"License-Expression: MIT"``).
    """
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    content = dict(files)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"{field}\n" for field in fields)
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires)
    content[f"{info}/METADATA"] = metadata.encode()
    purelib = "true" if tag.endswith("-any") else "false"
    content[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: envstacks-tests\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
    ).encode()
    rows = []
    for path, data in content.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append([path, f"sha256={digest}", str(len(data))])
    rows.append([f"{info}/RECORD", "", ""])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    content[f"{info}/RECORD"] = out.getvalue().encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in content.items():
            info_entry = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info_entry.external_attr = 0o644 << 16
            archive.writestr(info_entry, data)
    return wheel


_LIB_C = "int demo_answer(void) { return 42; }\n"
_EXT_C = """
#include <Python.h>
int demo_answer(void);
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(demo_answer()); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_demo", NULL, -1, methods};
PyMODINIT_FUNC PyInit__demo(void) { return PyModule_Create(&module); }
"""


def python_config(python: Path) -> dict[str, str]:
    """The include folder, extension suffix and wheel tag of an interpreter."""
    code = (
        "import json, sys, sysconfig; v = sys.version_info; print(json.dumps({"
        "'include': sysconfig.get_paths()['include'], "
        "'suffix': sysconfig.get_config_var('EXT_SUFFIX'), "
        "'tag': f'cp{v[0]}{v[1]}'}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def build_dynlib_wheels(work: Path, python: Path) -> tuple[Path, Path]:
    """Compile two wheels with gcc: a shared library and an extension module linking it.

    ``demo-lib`` ships ``libdemo.so.1`` (a versioned soname); ``demo-ext`` holds an extension
    module linked against it without an rpath. A pure-Python ``demo-rt`` (for a runtime
    layer) is written beside them. Each states its licence in another way (SBOM tests).

    Returns (demo-lib wheel, demo-ext wheel).
    """
    config = python_config(python)
    src = work / "csrc"
    src.mkdir(parents=True, exist_ok=True)
    (src / "libdemo.c").write_text(_LIB_C)
    (src / "_demo.c").write_text(_EXT_C)
    lib = src / "libdemo.so.1"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-Wl,-soname,libdemo.so.1", "-o", lib, src / "libdemo.c"],
        check=True,
    )
    ext = src / f"_demo{config['suffix']}"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            f"-I{config['include']}",
            "-o",
            ext,
            src / "_demo.c",
            f"-L{src}",
            "-l:libdemo.so.1",
        ],
        check=True,
    )
    platform_tag = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    wheels = work / "wheels"
    make_wheel(
        wheels,
        "demo-rt",
        "1.0",
        {"demo_rt/__init__.py": b"ANSWER = 42\n"},
        fields=["License-Expression: MIT OR Apache-2.0"],
    )
    lib_wheel = make_wheel(
        wheels,
        "demo-lib",
        "1.0",
        {"demo_lib/__init__.py": b"", "demo_lib/libdemo.so.1": lib.read_bytes()},
        tag=f"py3-none-{platform_tag}",
        fields=["Classifier: License :: OSI Approved :: MIT License"],
    )
    ext_wheel = make_wheel(
        wheels,
        "demo-ext",
        "1.0",
        {
            "demo_ext/__init__.py": b"from demo_ext._demo import answer\n",
            f"demo_ext/{ext.name}": ext.read_bytes(),
        },
        tag=f"{config['tag']}-{config['tag']}-{platform_tag}",
        requires=["demo-lib"],
        fields=["License: Demo Licence 1.0"],
    )
    return lib_wheel, ext_wheel


@dataclass
class Stack:
    """A stack written, locked and built by a test."""

    spec: StackSpec
    reporter: RecordingReporter
    results: list[BuildResult]

    def env(self, build_name: str) -> Path:
        """The build environment of a layer."""
        return stack_paths.env_path(self.spec, self.spec.layer(build_name))

    def reload(self) -> StackSpec:
        """Read the spec file again (after a test changed it)."""
        self.spec = load(self.spec.spec_path)
        return self.spec


def lock_stack(
    spec: StackSpec,
    reporter: RecordingReporter,
    *,
    options: LockOptions | None = None,
    names: Iterable[str] | None = None,
) -> None:
    """Lock the (named) layers lowest first, provisioning runtimes for uv as the CLI does."""
    pm = get_plugin_manager(load_entrypoints=False)

    def python_for(runtime: RuntimeSpec) -> Path:
        env = stack_paths.env_path(spec, runtime)
        if not env.exists():
            provision_runtime(spec, runtime, env, pm=pm, reporter=reporter)
        return runtime_python(env)

    wanted = set(names) if names is not None else None
    lock_layers(
        spec,
        [
            LockRequest(layer=layer, if_needed=True)
            for layer in spec.enabled_layers
            if wanted is None or layer.build_name in wanted
        ],
        python_for=python_for,
        options=options or LockOptions(),
        reporter=reporter,
    )


def build_stack(
    spec: StackSpec,
    reporter: RecordingReporter,
    *,
    requested: bool = True,
    names: Iterable[str] | None = None,
    options: BuildOptions | None = None,
    pm: pluggy.PluginManager | None = None,
) -> list[BuildResult]:
    """Build the (named) enabled layers with the real plugin manager."""
    wanted = set(names) if names is not None else None
    layers = [
        LayerToBuild(layer, requested)
        for layer in spec.enabled_layers
        if wanted is None or layer.build_name in wanted
    ]
    return build_layers(
        spec,
        layers,
        lock_states=lock_states(spec),
        pm=pm or get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
        options=options or BuildOptions(),
    )


def uv_calls(reporter: RecordingReporter) -> list[str]:
    """The uv commands a reporter saw (debug lines of envstacks.floor.proc)."""
    return [text for text in reporter.texts("debug") if text.startswith("$ ") and " pip " in text]


def record_problems(site_dir: Path) -> list[str]:
    """RECORD rows of every distribution in ``site_dir`` whose file does not exist."""
    problems = []
    for record in sorted(site_dir.glob("*.dist-info/RECORD")):
        for row in csv.reader(record.read_text(encoding="utf-8").splitlines()):
            if row and not (site_dir / row[0]).exists():
                problems.append(f"{record.parent.name}: {row[0]}")
    return problems


def files_containing(root: Path, needle: bytes) -> list[str]:
    """Files (and symlink targets) under ``root`` whose bytes contain ``needle``."""
    hits = []
    for folder, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            path = Path(folder, name)
            if path.is_symlink():
                if needle in os.fsencode(os.readlink(path)):
                    hits.append(f"{path} -> {os.readlink(path)}")
            elif path.is_file() and needle in path.read_bytes():
                hits.append(str(path))
    return hits


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime (folders: 0 and their mtime)."""
    state: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            info = Path(folder, name).lstat()
            size = 0 if name in dirs else info.st_size
            state[os.path.relpath(Path(folder, name), root)] = (size, info.st_mtime_ns)
    return state


#: Runs ``python -m MODULE ARGS`` and fails if anything tries to write byte code. The hook is
#: installed after start-up, so a write during start-up shows in :func:`tree_state` instead.
_NO_BYTECODE_WRITES = """\
import os, runpy, sys
attempts = []
def hook(event, args):
    if event == "os.mkdir" and "__pycache__" in str(args[0]):
        attempts.append(str(args[0]))
    elif event == "open" and args[0] is not None and "__pycache__" in str(args[0]):
        mode, flags = args[1], args[2]
        if (mode is None and flags & 3) or (mode and any(c in mode for c in "wax+")):
            attempts.append(str(args[0]))
sys.addaudithook(hook)
module = sys.argv[1]
del sys.argv[1]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
finally:
    if attempts:
        sys.stderr.write("byte code written: %r\\n" % attempts)
        os._exit(99)
"""


def run_app_writing_no_bytecode(
    python: Path, module: str, *args: str, read_only: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an application as a user would (bytecode writing allowed), refusing any pyc write.

    With ``read_only``, that folder (a deployment) is made read-only for the run (which
    stops nothing when the tests run as root: the audit hook still sees every attempt).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PATH"] = "/usr/bin:/bin"
    modes: dict[Path, int] = {}
    if read_only is not None:
        modes[read_only] = read_only.stat().st_mode
        for folder, dirs, files in os.walk(read_only):
            for name in [*dirs, *files]:
                path = Path(folder, name)
                if not path.is_symlink():
                    modes[path] = path.stat().st_mode
        for path, mode in modes.items():
            path.chmod(mode & ~0o222)
    try:
        return subprocess.run(
            [python, "-c", _NO_BYTECODE_WRITES, module, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            check=False,
        )
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
