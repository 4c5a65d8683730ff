"""Benchmark push and deploy through an OCI registry against a folder and ``http.server``.

One run, on one machine, with ratios against the baselines measured in the same run:

* **push** of the example stack's publish folder: to a CNCF distribution registry on
  127.0.0.1 (``envstacks`` ``push_published``: HEAD per blob, uploads, manifest, index)
  against copying the folder into another folder (what publishing to a shared folder or to
  the root of a web server costs);
* **deploy** into a fresh folder: from the registry, from the publish folder, and from
  ``http.server`` serving that folder;
* a **second version** with one application changed: bytes uploaded by the push (the
  registry already has every other blob) against the bytes a folder copy writes, and bytes
  downloaded deploying it over the first version (registry and ``http.server``: from their
  access logs).

Needs ``docker-registry`` (Debian's package) on PATH and ``envstacks[oci]``.

Usage: python benchmarks/registry.py [--rounds N] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_projects" / "sklearn-stack"
CHANGED_APP = "src/stats.py"
_ACCESS = re.compile(r'"GET (\S+) HTTP/[0-9.]+" (?:200|206) (\d+)')

CONFIG = """\
version: 0.1
log: {{level: warn, accesslog: {{disabled: false}}}}
storage: {{filesystem: {{rootdirectory: {storage}}}}}
http: {{addr: "127.0.0.1:{port}", secret: bench}}
"""


def envstacks(*args: str, cwd: Path) -> None:
    """Run the envstacks CLI of this interpreter, failing loudly."""
    argv = [sys.executable, "-m", "envstacks", *args]
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr}")


def timed(action: Callable[[], object], rounds: int, before: Callable[[], None]) -> float:
    """Median wall time of ``action`` over ``rounds`` runs (``before`` runs untimed each time)."""
    times = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """A distribution registry with its own storage; its access log counts downloaded bytes."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.storage = root / "storage"
        config = root / "config.yml"
        config.write_text(CONFIG.format(storage=self.storage, port=self.port))
        self.log = root / "registry.log"
        binary = shutil.which("docker-registry")
        if binary is None:
            sys.exit("docker-registry is not installed (apt-get install docker-registry)")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"the registry did not start: {self.log.read_text()}")

    def blob_bytes(self) -> int:
        """Bytes of blob bodies served so far."""
        text = self.log.read_text(errors="replace")
        return sum(int(size) for path, size in _ACCESS.findall(text) if "/blobs/" in path)

    def stop(self) -> None:
        """End the registry process."""
        self.process.terminate()
        self.process.wait(10)


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and counts the bytes of archives it sends."""

    sent = 0

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing per request."""

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        """Send a file, counting its bytes."""
        before = source.tell()
        super().copyfile(source, outputfile)
        CountingHandler.sent += source.tell() - before


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(CountingHandler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_versions(work: Path) -> tuple[Path, Path]:
    """Publish the example stack (v1), then again with one application changed (v2)."""
    project = work / "project"
    if not project.exists():
        shutil.copytree(
            EXAMPLE, project, ignore=shutil.ignore_patterns("_build", "dist", "_export")
        )
    v1, v2 = work / "v1", work / "v2"
    if not (v1 / "__venvstacks__").exists():
        envstacks("build", "--lock-if-needed", "--publish", "--output-dir", str(v1), cwd=project)
    if not (v2 / "__venvstacks__").exists():
        app = project / CHANGED_APP
        app.write_text(app.read_text() + "\n# version 2\n")
        envstacks("build", "--lock-if-needed", "--publish", "--output-dir", str(v2), cwd=project)
    return v1, v2


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    from envstacks.floor.platforms import require_host_platform  # noqa: PLC0415
    from envstacks.floor.report import NullReporter  # noqa: PLC0415
    from envstacks.orchestrator.distribution import deploy  # noqa: PLC0415 - after argument parsing
    from envstacks.orchestrator.plugins import get_plugin_manager  # noqa: PLC0415
    from envstacks.stages.oci import PushOptions  # noqa: PLC0415
    from envstacks.stages.oci.push_folder import push_published  # noqa: PLC0415

    work = args.keep or Path(tempfile.mkdtemp(prefix="envstacks-bench-registry-"))
    work.mkdir(parents=True, exist_ok=True)
    v1, v2 = build_versions(work)
    manifest = {
        version: json.loads((path / "__venvstacks__" / "venvstacks.json").read_text())
        for version, path in (("v1", v1), ("v2", v2))
    }
    platform = require_host_platform("benchmark")
    pm = get_plugin_manager()
    reporter = NullReporter()
    figures: dict[str, float] = {}
    runs = work / "runs"

    def fresh(path: Path) -> Callable[[], None]:
        return lambda: (shutil.rmtree(path, ignore_errors=True), path.parent.mkdir(exist_ok=True))

    registries: list[Registry] = []

    def new_registry() -> None:
        root = Path(tempfile.mkdtemp(prefix="registry-", dir=work))
        registries.append(Registry(root))

    def push(version: str, path: Path, tag: str) -> object:
        url = f"oci://127.0.0.1:{registries[-1].port}/example:{tag}"
        return push_published(
            manifest[version],
            path,
            PushOptions(target=url),
            platform=platform,
            merge=False,
            reporter=reporter,
        )

    try:
        figures["push registry"] = timed(lambda: push("v1", v1, "v1"), args.rounds, new_registry)
        figures["push folder copy"] = timed(
            lambda: shutil.copytree(v1, runs / "copy"), args.rounds, fresh(runs / "copy")
        )
        registry = registries[-1]
        url_v1 = f"oci://127.0.0.1:{registry.port}/example:v1"
        target = runs / "target"
        figures["deploy registry"] = timed(
            lambda: deploy(url_v1, target, pm=pm, reporter=reporter), args.rounds, fresh(target)
        )
        figures["deploy folder"] = timed(
            lambda: deploy(v1, target, pm=pm, reporter=reporter), args.rounds, fresh(target)
        )
        server, base = serve(v1)
        figures["deploy http.server"] = timed(
            lambda: deploy(base, target, pm=pm, reporter=reporter), args.rounds, fresh(target)
        )
        server.shutdown()

        # Second version: what goes up, and what comes down over the first version.
        pushed = push("v2", v2, "v2")
        figures["v2 bytes uploaded, registry"] = pushed.uploaded_bytes  # type: ignore[attr-defined]
        figures["v2 bytes written, folder copy"] = folder_bytes(v2)
        fresh(target)()
        deploy(url_v1, target, pm=pm, reporter=reporter)
        before = registry.blob_bytes()
        deploy(url_v1.replace(":v1", ":v2"), target, pm=pm, reporter=reporter)
        figures["v2 bytes downloaded, registry"] = registry.blob_bytes() - before
        fresh(target)()
        server, base = serve(v1)
        deploy(base, target, pm=pm, reporter=reporter)
        server.shutdown()
        server, base = serve(v2)
        CountingHandler.sent = 0
        deploy(base, target, pm=pm, reporter=reporter)
        server.shutdown()
        figures["v2 bytes downloaded, http.server"] = CountingHandler.sent
        figures["stack bytes (all archives)"] = folder_bytes(v1) - folder_bytes(
            v1 / "__venvstacks__"
        )
    finally:
        for running in registries:
            running.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def report(f: dict[str, float]) -> None:
    """Print times with ratios, then the bytes of the second version."""
    print(f"{'step':<34}{'seconds':>9}{'ratio':>9}")
    push_base = f["push folder copy"]
    print(f"{'push: registry':<34}{f['push registry']:>9.2f}{f['push registry'] / push_base:>9.2f}")
    print(f"{'push: copy into a folder':<34}{push_base:>9.2f}{1:>9.2f}")
    base = f["deploy folder"]
    for name in ("deploy registry", "deploy folder", "deploy http.server"):
        print(f"{name.replace('deploy ', 'deploy: '):<34}{f[name]:>9.2f}{f[name] / base:>9.2f}")
    print()
    total = f["stack bytes (all archives)"]
    print(f"{'second version (one app changed)':<34}{'bytes':>14}{'of stack':>10}")
    for name in (
        "v2 bytes uploaded, registry",
        "v2 bytes written, folder copy",
        "v2 bytes downloaded, registry",
        "v2 bytes downloaded, http.server",
    ):
        print(f"{name.removeprefix('v2 '):<34}{int(f[name]):>14,}{f[name] / total:>10.3f}")
    print(f"{'(all archives of the stack)':<34}{int(total):>14,}")


if __name__ == "__main__":
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    main()
