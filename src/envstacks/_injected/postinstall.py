"""Post-installation script of an envstacks layer: make an unpacked or moved layer runnable.

The same file sits at the top of every deployed layer. Run it after unpacking (or moving) the
layers, runtime first, with any Python 3 interpreter::

    python3 <deployment folder>/<layer>/postinstall.py

It is data-driven: everything it needs comes from ``share/venv/metadata/`` in the layer
(``venvstacks_layer.json``, paths relative to the layer folder, and envstacks' records). It

* checks that every path the config names stays inside the deployment folder (the folder
  holding the layers side by side), that what the layer writes (its interpreter's folder, its
  ``site_dir``, the folders it compiles) lies inside the layer itself, symlinks resolved, and
  that the layers this one needs are there;
* writes ``pyvenv.cfg`` for a layered environment (framework or application), pointing at
  the deployed runtime's interpreter with absolute paths, as CPython requires;
* byte-compiles, with the layer's own runtime (pyc files are specific to a Python version),
  the modules of its ``lib`` folder that have no pyc yet. A precompiled layer (the default)
  ships them with a record (``envstacks_bytecode.json``) of the interpreter that made them
  and of the modules staging changed: only those are compiled. Any other layer is looked at
  module by module;
* writes a ``bin/<name>`` launcher for each console or GUI script the layer exposes, from
  validated names and ``module:object`` references only (anything else is refused).

The pyc files are PEP 552 "unchecked-hash" ones recording the path relative to the layer:
Python never rewrites them, whatever the mtimes, and they are the same bytes in any folder.
Only ``pyvenv.cfg`` holds absolute paths (the chaining module, the ``bin/python`` wrapper and
the launchers find what they need relative to themselves): after the deployment folder
moves, run this script again. Running it twice changes nothing.

It is one file on purpose (it is shipped alone in every layer) and must run on every Python 3
still in use (3.6 and later): no ``from __future__`` imports, no assignment expressions, no
``removeprefix``; only the standard library. envstacks builds layers with
``--compile LAYER_DIR --refresh``, run by the runtime's interpreter, and runs it in its own
process when a layer's copy is byte for byte this file.
"""

import json
import os
import re
import sys

#: Only type checkers import ``typing`` (a tenth of a run's time): annotations are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

LAYER_CONFIG = os.path.join("share", "venv", "metadata", "venvstacks_layer.json")
SCRIPTS_CONFIG = os.path.join("share", "venv", "metadata", "envstacks_scripts.json")
#: What a precompiled layer says of its pyc files: the interpreter's ``cache_tag`` and
#: ``magic`` (hex), and the modules (relative paths) it ships without one, to ``compile``.
BYTECODE_RECORD = os.path.join("share", "venv", "metadata", "envstacks_bytecode.json")
#: Entry-point groups that become launchers (GUI scripts are plain launchers on POSIX too).
SCRIPT_GROUPS = ("console_scripts", "gui_scripts")
#: Files compiled per worker task when many modules need compiling.
CHUNK = 64
#: What a script may be called (a file name in ``bin/``), and the interpreter's own names there.
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*")
INTERPRETER_NAME = re.compile(r"python(3(\.\d+)?)?_?")
#: ``module:object [extras]``: dotted names, and extras that are plain names (no newline, no
#: quote, nothing else can reach a launcher).
_ENTRY_POINT = re.compile(
    r"[ \t]*(\w+(?:\.\w+)*)[ \t]*:[ \t]*(\w+(?:\.\w+)*)[ \t]*"
    r"(?:\[[ \t]*[A-Za-z0-9._-]+(?:[ \t]*,[ \t]*[A-Za-z0-9._-]+)*[ \t]*\])?[ \t]*"
)
#: Largest JSON file read from a layer, and the deepest nesting accepted in it.
MAX_JSON_BYTES = 16 << 20
MAX_JSON_DEPTH = 64
#: A sh/Python polyglot: sh execs the interpreter next to the launcher (symlinks followed) on
#: this file; Python sees a string, then the code.
LAUNCHER = """\
#!/bin/sh
'''exec' "$(dirname -- "$(readlink -f -- "$0")")"/{python} "$0" "$@"
' '''
# {group} entry point {name} = {value}; written by envstacks' postinstall.py
import re
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({call}())
"""


class PostInstallError(Exception):
    """A problem that stops the layer from working; the message says what to do."""


def read_json(path: str) -> "Any":
    """Parse a JSON file of the layer, bounded in size and nesting depth.

    The same bounds as envstacks' own reader (``envstacks.floor.bounded_json``): the size is
    checked before reading, the nesting depth before parsing (strings and escapes removed,
    then the innermost bracket pairs once per level), so a hostile file is an error, never a
    ``RecursionError``.

    Raises:
        OSError: it cannot be read (``FileNotFoundError``: it does not exist).
        ValueError: too large, nested too deeply, or not JSON.
    """
    with open(path, "rb") as stream:
        data = stream.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError("larger than {} bytes".format(MAX_JSON_BYTES))
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        structure = re.sub(rb"\\.", b"", data, flags=re.DOTALL)
        keep = bytes(set(range(256)) - set(b'[]{}"'))
        structure = structure.translate(None, keep).replace(b'""', b"")
        structure = re.sub(rb'"[^"]*"', b"", structure)
        for _ in range(MAX_JSON_DEPTH):
            shorter = re.sub(rb"\[\]|\{\}", b"", structure)
            if len(shorter) == len(structure):
                break
            structure = shorter
        if structure:
            raise ValueError(
                "nested more than {} levels deep, or brackets that do not match".format(
                    MAX_JSON_DEPTH
                )
            )
    return json.loads(data.decode("utf-8"))


def load_config(layer_dir: str) -> "Dict[str, Any]":
    """Read the layer config of ``layer_dir``."""
    path = os.path.join(layer_dir, LAYER_CONFIG)
    try:
        config = read_json(path)
    except (OSError, ValueError) as exc:
        raise PostInstallError(
            "cannot read the layer config {}: {} (is this a complete envstacks layer?)".format(
                path, exc
            )
        ) from exc
    if not isinstance(config, dict):
        raise PostInstallError("layer config {} is not a JSON object".format(path))
    for key in ("python", "base_python", "site_dir", "py_version"):
        if not isinstance(config.get(key), str):
            raise PostInstallError(
                "layer config {}: '{}' is missing or not a string".format(path, key)
            )
    for key in ("pylib_dirs", "dynlib_dirs"):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise PostInstallError(
                "layer config {}: '{}' is not a list of strings".format(path, key)
            )
    return config


def deployed_path(layer_dir: str, relative: str, key: str) -> str:
    """The absolute form of a config path (symlinks are not resolved).

    Raises:
        PostInstallError: the path is absolute or leaves the deployment folder.
    """
    if os.path.isabs(relative):
        raise PostInstallError(
            "layer config of {}: {} must be relative to the layer folder, not {!r}".format(
                layer_dir, key, relative
            )
        )
    deployment = os.path.dirname(layer_dir)
    path = os.path.normpath(os.path.join(layer_dir, relative))
    if os.path.commonpath([deployment, path]) != deployment or path == deployment:
        raise PostInstallError(
            "layer config of {}: {} {!r} leaves the deployment folder {}; layers must be "
            "deployed side by side in one folder".format(layer_dir, key, relative, deployment)
        )
    return path


def inside_layer(layer_dir: str, path: str, what: str) -> str:
    """``path`` (a folder the layer writes in, or a file it replaces), checked to be the layer's.

    Symlinks are resolved: a folder that is, or lies behind, a link to another layer or
    outside the deployment is refused, so nothing this script writes lands in another layer.

    Raises:
        PostInstallError: ``path`` does not lie inside ``layer_dir``.
    """
    real_layer = os.path.realpath(layer_dir)
    real = os.path.realpath(path)
    if os.path.commonpath([real_layer, real]) != real_layer:
        raise PostInstallError(
            "layer {}: {} {} lies outside the layer ({}); a layer writes only inside its own "
            "folder (the layer was not made by envstacks or venvstacks, or was tampered "
            "with)".format(layer_dir, what, path, real)
        )
    return path


def pyvenv_cfg_text(base_python: str, py_version: str) -> str:
    """The ``pyvenv.cfg`` of a layered environment whose runtime interpreter is ``base_python``."""
    return (
        "home = {}\ninclude-system-site-packages = false\nversion = {}\nexecutable = {}\n".format(
            os.path.dirname(base_python), py_version, base_python
        )
    )


def write_text(path: str, text: str, mode: int = 0o644) -> bool:
    """Write ``text`` to ``path`` unless it already holds it; return whether it was written.

    The new content goes to a temporary file renamed over the old one, so a file that is a
    hard link (exports share files with the build folder) is replaced, never changed in place.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            if stream.read() == text:
                return False
    except (OSError, ValueError):
        pass
    # A fresh name, created exclusively: never a file (or a link) the layer already holds.
    temporary = "{}.{}-{}.tmp".format(path, os.getpid(), os.urandom(4).hex())
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    return True


def same_file(first: str, second: str) -> bool:
    """Whether two paths name the same existing file."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def lib_folder(layer_dir: str) -> "Optional[str]":
    """The layer's ``lib`` (POSIX) or ``Lib`` (Windows) folder, if it has one."""
    for name in ("lib", "Lib"):
        path = os.path.join(layer_dir, name)
        if os.path.isdir(path):
            return path
    return None


def stale_modules(lib_dir: str, refresh: bool, everything: bool = False) -> "List[str]":
    """The ``.py`` files under ``lib_dir`` whose ``__pycache__`` file this interpreter lacks.

    Without ``refresh``, a pyc file is taken as it is (checking one per layer for this
    interpreter's magic number: a layer deployed under another Python is compiled anew).
    With ``refresh`` (building), every pyc file must be the unchecked-hash one of its source's
    current content, and ``__pycache__`` files that are anything else (other Python versions,
    optimisation levels, removed sources) are deleted. Sorted, folder by folder.
    """
    tag = sys.implementation.cache_tag
    stale = []  # type: List[str]
    checked_magic = refresh or everything
    for root, dirs, files in os.walk(lib_dir):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        cache = os.path.join(root, "__pycache__")
        present = set(os.listdir(cache)) if os.path.isdir(cache) else set()
        wanted = set()
        for name in sorted(name for name in files if name.endswith(".py")):
            pyc = "{}.{}.pyc".format(name[:-3], tag)
            wanted.add(pyc)
            source = os.path.join(root, name)
            if (
                everything
                or pyc not in present
                or (refresh and not _current_pyc(source, os.path.join(cache, pyc)))
            ):
                stale.append(source)
            elif not checked_magic:
                checked_magic = True
                if not _current_pyc(None, os.path.join(cache, pyc)):
                    return stale_modules(lib_dir, refresh, everything=True)
        for name in sorted(present - wanted) if refresh else ():
            os.unlink(os.path.join(cache, name))
    return stale


def _current_pyc(source: "Optional[str]", pyc: str) -> bool:
    """Whether ``pyc`` is for this interpreter (and the unchecked-hash pyc of ``source``)."""
    import importlib.util  # noqa: PLC0415 - only compiling needs it

    try:
        with open(pyc, "rb") as stream:
            header = stream.read(16)
        if header[:4] != importlib.util.MAGIC_NUMBER:
            return False
        if source is None:
            return True
        with open(source, "rb") as stream:
            digest = importlib.util.source_hash(stream.read())
    except OSError:
        return False
    # Flags 0b01: hash-based, source not checked (PEP 552); then the source's hash.
    return header[4:8] == b"\x01\x00\x00\x00" and header[8:16] == digest


def compile_modules(
    layer_dir: str, sources: "List[str]", uncompilable: "Optional[List[str]]" = None
) -> int:
    """Byte-compile ``sources`` for this interpreter (in parallel when many); return failures.

    Each pyc is written atomically, records the path relative to ``layer_dir`` as its file
    name, and is an unchecked-hash pyc where this Python has them (3.7+). ``uncompilable``
    receives the relative paths of the modules whose source does not compile (not those a
    file system error stopped).
    """
    confine_compiled(layer_dir, sources)
    chunks = [(layer_dir, sources[i : i + CHUNK]) for i in range(0, len(sources), CHUNK)]
    workers = min(len(chunks), usable_cpus())
    if workers <= 1:
        results = [_compile_chunk(chunk) for chunk in chunks]
    else:
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - only for many modules

        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_compile_chunk, chunks))
    for _failures, bad in results:
        if uncompilable is not None:
            uncompilable.extend(bad)
    return sum(failures for failures, _bad in results)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where there is one, as ``taskset``)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:
            pass
    return os.cpu_count() or 1


def listed_modules(layer_dir: str, listed: "List[str]") -> "List[str]":
    """The modules (relative paths, one per line) a build asks to compile, each in the layer.

    Raises:
        PostInstallError: one lies outside the layer.
    """
    sources = []
    for item in listed:
        source = os.path.normpath(os.path.join(layer_dir, item))
        if os.path.isabs(item) or os.path.commonpath([layer_dir, source]) != layer_dir:
            raise PostInstallError("{!r} lies outside the layer".format(item))
        sources.append(source)
    return sources


def confine_compiled(layer_dir: str, sources: "List[str]") -> None:
    """Check that the pyc files of ``sources`` are written inside the layer.

    Each module's ``__pycache__`` folder (or, before it exists, the module's folder) must be
    the layer's own, symlinks resolved.

    Raises:
        PostInstallError: one lies outside the layer.
    """
    for folder in sorted({os.path.dirname(source) for source in sources}):
        cache = os.path.join(folder, "__pycache__")
        where = cache if os.path.lexists(cache) else folder
        inside_layer(layer_dir, where, "the bytecode folder")


def _compile_chunk(chunk: "Any") -> "Tuple[int, List[str]]":
    """Compile one ``(layer_dir, sources)`` chunk: how many failed, and which do not compile."""
    import importlib.util  # noqa: PLC0415 - only compiling needs it
    import py_compile  # noqa: PLC0415 - only compiling needs it

    layer_dir, sources = chunk
    options = {}  # type: Dict[str, Any]
    if hasattr(py_compile, "PycInvalidationMode"):
        options["invalidation_mode"] = py_compile.PycInvalidationMode.UNCHECKED_HASH
    failures = 0
    uncompilable = []  # type: List[str]
    for source in sources:
        shown = os.path.relpath(source, layer_dir).replace(os.sep, "/")
        try:
            py_compile.compile(
                source,
                cfile=importlib.util.cache_from_source(source),
                dfile=shown,
                doraise=True,
                **options,
            )
        except (py_compile.PyCompileError, ValueError):  # the source's own fault
            failures += 1
            uncompilable.append(shown)
        except OSError:  # a full disk, a read-only folder: another run may succeed
            failures += 1
    return failures, uncompilable


def load_bytecode_record(layer_dir: str) -> "Optional[Dict[str, Any]]":
    """The layer's bytecode record; ``None`` when it has none or it is unreadable."""
    try:
        record = read_json(os.path.join(layer_dir, BYTECODE_RECORD))
    except (OSError, ValueError):
        return None
    valid = (
        isinstance(record, dict)
        and all(isinstance(record.get(key), str) for key in ("cache_tag", "magic"))
        and isinstance(record.get("compile", []), list)
        and all(isinstance(item, str) for item in record.get("compile", []))
    )
    return record if valid else None


def pending_modules(layer_dir: str, record: "Dict[str, Any]") -> "List[str]":
    """The modules a bytecode record lists to compile that have no pyc file yet.

    Raises:
        PostInstallError: a module it lists lies outside the layer.
    """
    pending = []
    for item in record.get("compile", []):
        source = os.path.normpath(os.path.join(layer_dir, item))
        if os.path.isabs(item) or os.path.commonpath([layer_dir, source]) != layer_dir:
            raise PostInstallError("{}: {!r} lies outside the layer".format(BYTECODE_RECORD, item))
        folder, name = os.path.split(source)
        pyc = "{}/__pycache__/{}.{}.pyc".format(folder, name[:-3], record["cache_tag"])
        if os.path.isfile(source) and not os.path.exists(pyc):
            pending.append(source)
    return pending


def write_bytecode_record(layer_dir: str) -> None:
    """Record which interpreter compiled the layer (building; staging adds what to compile)."""
    import importlib.util  # noqa: PLC0415 - only compiling needs it

    record = {"cache_tag": sys.implementation.cache_tag, "magic": importlib.util.MAGIC_NUMBER.hex()}
    path = os.path.join(layer_dir, BYTECODE_RECORD)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def compile_here(layer_dir: str, refresh: bool = False) -> str:
    """Byte-compile what the layer's ``lib`` lacks (or, ``refresh``, has stale) with this Python.

    A layer whose bytecode record names this interpreter ships its pyc files: only the modules
    the record lists are compiled, nothing else is looked at.
    """
    lib_dir = lib_folder(layer_dir)
    if lib_dir is None:
        return "no lib folder to byte-compile"
    inside_layer(layer_dir, lib_dir, "the lib folder")
    import importlib.util  # noqa: PLC0415 - only compiling needs it

    record = None if refresh else load_bytecode_record(layer_dir)
    if record is not None and (record["cache_tag"], record["magic"]) == (
        sys.implementation.cache_tag,
        importlib.util.MAGIC_NUMBER.hex(),
    ):
        stale = pending_modules(layer_dir, record)
    else:
        stale = stale_modules(lib_dir, refresh)
    failed = compile_modules(layer_dir, stale) if stale else 0
    if refresh:
        write_bytecode_record(layer_dir)
    return "byte-compiled {} modules of {}{}".format(
        len(stale) - failed,
        lib_dir,
        " ({} could not be compiled)".format(failed) if failed else "",
    )


def compile_layer(layer_dir: str, base_python: str) -> str:
    """Byte-compile what the layer lacks with its runtime's interpreter (here if we are it)."""
    if same_file(sys.executable, base_python):
        return compile_here(layer_dir)
    record = load_bytecode_record(layer_dir)
    if record is not None and not pending_modules(layer_dir, record):
        return "{} ships its pyc files".format(layer_dir)  # made by that runtime when built
    # pyc files are specific to one Python version: let the layer's own runtime write them.
    script = os.path.abspath(__file__)
    command = [base_python, "-I", "-S", script, "--compile", layer_dir]
    import subprocess  # noqa: PLC0415 - only compiling with another interpreter needs it

    result = subprocess.call(command)
    if result != 0:
        raise PostInstallError(
            "byte-compiling {} with {} failed ({})".format(
                layer_dir,
                base_python,
                "signal {}".format(-result) if result < 0 else "exit status {}".format(result),
            )
        )
    return "byte-compiled {} with {}".format(layer_dir, base_python)


def load_scripts(layer_dir: str) -> "Dict[str, Dict[str, str]]":
    """The layer's ``{group: {script name: entry point}}`` (empty without the file)."""
    path = os.path.join(layer_dir, SCRIPTS_CONFIG)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PostInstallError("cannot read the scripts config {}: {}".format(path, exc)) from exc
    scripts = {}  # type: Dict[str, Dict[str, str]]
    for group in SCRIPT_GROUPS:
        entries = data.get(group, {}) if isinstance(data, dict) else None
        if not isinstance(entries, dict) or not all(
            isinstance(value, str) for value in entries.values()
        ):
            raise PostInstallError(
                "scripts config {}: '{}' is not a table of strings".format(path, group)
            )
        for name, value in entries.items():
            if not usable_script_name(name):
                raise PostInstallError(
                    "scripts config {}: {!r} cannot name a script in bin/".format(path, name)
                )
            entry_point_parts(group, name, value)  # refused now, before any launcher is written
        scripts[group] = dict(entries)
    return scripts


def usable_script_name(name: str) -> bool:
    """Whether ``name`` can be a launcher in ``bin/`` (a plain name, not the interpreter's)."""
    return bool(SCRIPT_NAME.fullmatch(name)) and not INTERPRETER_NAME.fullmatch(name)


def entry_point_parts(group: str, name: str, value: str) -> "List[str]":
    """``[module, object]`` of the entry point ``name = value`` (``[extras]`` are dropped).

    Raises:
        PostInstallError: ``value`` is not ``module:object [extras]`` made of Python
            identifiers (a newline, a quote or any other character is refused), or ``name``
            is not a plain script name.
    """
    import keyword  # noqa: PLC0415 - only launchers need it

    match = _ENTRY_POINT.fullmatch(value) if isinstance(value, str) else None
    parts = (match.group(1).split(".") + match.group(2).split(".")) if match else []
    if (
        not match
        or not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)
        or not usable_script_name(name)
    ):
        raise PostInstallError(
            "{} entry point {!r} = {!r} is not a script name and a reference of the form "
            "'module:object' (the layer was not made by envstacks, or was tampered with)".format(
                group, name, value
            )
        )
    return [match.group(1), match.group(2)]


def launcher_text(group: str, name: str, value: str, python: str) -> str:
    """The ``bin/<name>`` launcher of the entry point ``name = value``.

    Only the validated name and ``module:object`` reach the launcher's text.

    Raises:
        PostInstallError: see :func:`entry_point_parts`.
    """
    module, attribute = entry_point_parts(group, name, value)
    return LAUNCHER.format(
        python=os.path.basename(python),
        group=group,
        name=name,
        value="{}:{}".format(module, attribute),
        module=module,
        head=attribute.split(".")[0],
        call=attribute,
    )


def write_scripts(layer_dir: str, python: str) -> "List[str]":
    """Write a launcher in ``bin/`` for every script the layer exposes; return the written."""
    scripts = load_scripts(layer_dir)
    bin_dir = os.path.dirname(python)
    if os.name != "posix" or not any(scripts.values()):
        return []
    inside_layer(layer_dir, bin_dir, "the launchers' folder")
    written = []
    for group in SCRIPT_GROUPS:
        for name, value in sorted(scripts.get(group, {}).items()):
            path = os.path.join(bin_dir, name)
            if write_text(path, launcher_text(group, name, value, python), mode=0o755):
                written.append(path)
    return written


def postinstall(layer_dir: str) -> "List[str]":
    """Make the layer at ``layer_dir`` runnable where it is; return what was done."""
    layer_dir = os.path.abspath(layer_dir)
    config = load_config(layer_dir)
    python = deployed_path(layer_dir, config["python"], "python")
    base_python = deployed_path(layer_dir, config["base_python"], "base_python")
    site_dir = deployed_path(layer_dir, config["site_dir"], "site_dir")
    # The layer's own interpreter (its launchers go beside it) and site_dir are the layer's;
    # only base_python and the lower layers' folders lie elsewhere, and they are only read.
    inside_layer(layer_dir, os.path.dirname(python), "python's folder")
    inside_layer(layer_dir, site_dir, "site_dir")
    pylib_dirs = [deployed_path(layer_dir, item, "pylib_dirs") for item in config["pylib_dirs"]]
    for item in config.get("dynlib_dirs", []):
        deployed_path(layer_dir, item, "dynlib_dirs")
    if not os.path.isdir(site_dir):
        raise PostInstallError(
            "layer {}: site_dir {} does not exist (is the layer complete?)".format(
                layer_dir, site_dir
            )
        )
    if not os.path.exists(base_python):
        raise PostInstallError(
            "layer {}: the runtime interpreter {} does not exist; deploy the runtime layer next "
            "to this layer".format(os.path.basename(layer_dir), base_python)
        )
    done = []  # type: List[str]
    if python != base_python:
        missing = [path for path in [base_python, *pylib_dirs] if not os.path.exists(path)]
        if missing:
            raise PostInstallError(
                "layer {} needs these lower-layer paths, which do not exist: {}; deploy the "
                "layers it needs next to it (see required_layers in its metadata), runtime "
                "first".format(os.path.basename(layer_dir), ", ".join(missing))
            )
        cfg = os.path.join(layer_dir, "pyvenv.cfg")
        if write_text(cfg, pyvenv_cfg_text(base_python, config["py_version"])):
            done.append("wrote {}".format(cfg))
    done.append(compile_layer(layer_dir, base_python))
    done.extend("wrote {}".format(path) for path in write_scripts(layer_dir, python))
    return done


def main(argv: "Optional[List[str]]" = None) -> int:
    """Command-line entry: ``postinstall.py [LAYER_DIR]`` (default: the folder of this file).

    ``postinstall.py --compile LAYER_DIR [--refresh]`` only byte-compiles, with the Python
    running it (envstacks builds layers with it); ``--compile-listed LAYER_DIR`` compiles the
    modules named on standard input (a build's pyc cache misses).
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--compile-listed"] and len(args) == 2:
        # A build with a pyc cache compiles only the modules the cache lacks (standard input).
        layer_dir = os.path.abspath(args[1])
        listed = [line for line in sys.stdin.read().splitlines() if line]
        uncompilable = []  # type: List[str]
        compile_modules(layer_dir, listed_modules(layer_dir, listed), uncompilable)
        sys.stdout.write("".join(path + "\n" for path in uncompilable))
        return 0
    if args[:1] == ["--compile"] and len(args) in (2, 3) and args[2:] in ([], ["--refresh"]):
        compile_here(os.path.abspath(args[1]), refresh=len(args) == 3)
        return 0
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: postinstall.py [LAYER_DIR]\n")
        return 2
    layer_dir = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    try:
        postinstall(layer_dir)
    except PostInstallError as exc:
        sys.stderr.write("postinstall.py: error: {}\n".format(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
