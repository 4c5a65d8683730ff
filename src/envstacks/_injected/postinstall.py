"""Post-installation script of an envstacks layer: make an unpacked or moved layer runnable.

The same file sits at the top of every deployed layer. Run it after unpacking (or moving) the
layers, runtime first, with any Python 3 interpreter::

    python3 <deployment folder>/<layer>/postinstall.py

It is data-driven: everything it needs comes from ``share/venv/metadata/venvstacks_layer.json``
beside it, whose paths are relative to the layer folder. It

* checks that every path the config names stays inside the deployment folder (the folder
  holding the layers side by side) and that the layers this one needs are there;
* writes ``pyvenv.cfg`` for a layered environment (framework or application), pointing at
  the deployed runtime's interpreter with absolute paths, as CPython requires;
* byte-compiles the layer's ``lib`` folder with the layer's own runtime interpreter (pyc files
  are specific to the Python version, which need not be the one running this script).

It does not touch the layer chaining: the generated ``_envstacks_layers.py`` module (imported
through a ``.pth`` file) computes the lower layers' ``site-packages`` folders relative to its
own location, and the POSIX ``bin/python`` wrapper finds lower layers' shared libraries
relative to itself. So only ``pyvenv.cfg`` holds absolute paths, and running this script again
after the deployment folder moves is all a move needs. Running it twice changes nothing.

This file must run on every Python 3 still in use (3.6 and later): no ``from __future__``
imports, no assignment expressions, no ``removeprefix``; only the standard library.
"""

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

LAYER_CONFIG = os.path.join("share", "venv", "metadata", "venvstacks_layer.json")


class PostInstallError(Exception):
    """A problem that stops the layer from working; the message says what to do."""


def load_config(layer_dir: str) -> Dict[str, Any]:
    """Read the layer config of ``layer_dir``."""
    path = os.path.join(layer_dir, LAYER_CONFIG)
    try:
        with open(path, encoding="utf-8") as stream:
            config = json.load(stream)
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


def pyvenv_cfg_text(base_python: str, py_version: str) -> str:
    """The ``pyvenv.cfg`` of a layered environment whose runtime interpreter is ``base_python``."""
    return (
        "home = {}\ninclude-system-site-packages = false\nversion = {}\nexecutable = {}\n".format(
            os.path.dirname(base_python), py_version, base_python
        )
    )


def write_text(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds it; return whether it was written.

    The new content goes to a temporary file renamed over the old one, so a file that is a
    hard link (exports share files with the build folder) is replaced, never changed in place.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            if stream.read() == text:
                return False
    except OSError:
        pass
    temporary = "{}.{}.tmp".format(path, os.getpid())
    with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(text)
    os.replace(temporary, path)
    return True


def same_file(first: str, second: str) -> bool:
    """Whether two paths name the same existing file."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def compile_layer(layer_dir: str, base_python: str) -> None:
    """Byte-compile ``<layer>/lib`` for the layer's runtime (in this process if we are it)."""
    lib_dir = os.path.join(layer_dir, "lib")
    if not os.path.isdir(lib_dir):
        lib_dir = os.path.join(layer_dir, "Lib")
        if not os.path.isdir(lib_dir):
            return
    # workers=0 / -j 0: one process per core (a framework layer holds thousands of modules).
    if same_file(sys.executable, base_python):
        import compileall  # noqa: PLC0415 - only compiling needs it (envstacks imports this module)

        compileall.compile_dir(lib_dir, optimize=0, quiet=1, workers=0)
        return
    # pyc files are specific to one Python version: let the layer's own runtime write them.
    result = subprocess.call([base_python, "-I", "-m", "compileall", "-q", "-j", "0", lib_dir])
    if result < 0:
        raise PostInstallError(
            "byte-compiling {} with {} was killed (signal {})".format(lib_dir, base_python, -result)
        )


def postinstall(layer_dir: str) -> List[str]:
    """Make the layer at ``layer_dir`` runnable where it is; return what was done."""
    layer_dir = os.path.abspath(layer_dir)
    config = load_config(layer_dir)
    python = deployed_path(layer_dir, config["python"], "python")
    base_python = deployed_path(layer_dir, config["base_python"], "base_python")
    site_dir = deployed_path(layer_dir, config["site_dir"], "site_dir")
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
    compile_layer(layer_dir, base_python)
    done.append("byte-compiled {}".format(os.path.join(layer_dir, "lib")))
    return done


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry: ``postinstall.py [LAYER_DIR]`` (default: the folder of this file)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
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
