"""Benchmark push and deploy through an OCI registry against a folder and ``http.server``.

One run, on one machine, with ratios against the baselines measured in the same run:

* **push** of the example stack's publish folder: to a CNCF distribution registry on
  127.0.0.1 (``envstacks`` ``push_publish_folder``: HEAD per blob, mounts, uploads, manifest, index)
  against copying the folder into another folder (what publishing to a shared folder or to
  the root of a web server costs);
* **deploy** into a fresh folder: from the registry, from the publish folder, and from
  ``http.server`` serving that folder;
* a **second version** with one application changed, published with ``--delta-from`` the
  first: bytes uploaded by the push (the registry already has every other blob) against the
  bytes a folder copy writes, and bytes downloaded deploying it over the first version
  (registry and ``http.server``: from their access logs), and the bytes the changed layer
  cost (``deploy``'s transfers) against its full archive;
* a **push to a second repository** of the same registry: blob bytes uploaded (the blobs are
  mounted from the first repository, remembered in the folder);
* **concurrent pushes**: in each round, two platforms pushed to one tag at the same moment
  (the second platform is the first's folder relabelled); platforms the tag keeps.

Needs ``docker-registry`` (Debian's package) on PATH and ``envstacks[oci]``.

Usage: python benchmarks/registry.py [--rounds N] [--concurrent-rounds N] [--keep DIR] [--json FILE]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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

    def uploaded_blobs(self) -> int:
        """Blob uploads completed so far (``PUT .../blobs/uploads/...`` answered 201)."""
        text = self.log.read_text(errors="replace")
        return len(re.findall(r'"PUT \S+/blobs/uploads/\S+ HTTP/[0-9.]+" 201', text))

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
        envstacks(
            "build",
            "--lock-if-needed",
            "--publish",
            "--output-dir",
            str(v2),
            "--delta-from",
            str(v1),
            cwd=project,
        )
    return v1, v2


def relabelled(folder: Path, dest: Path, platform: str) -> Path:
    """A copy of an untagged publish folder whose layers name ``platform`` (a second platform)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(folder, dest)
    path = dest / "__venvstacks__" / "venvstacks.json"
    data = json.loads(path.read_text())
    for entries in data["layers"].values():
        for entry in entries:
            entry["target_platform"] = platform
    path.write_text(json.dumps(data))
    return dest


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrent-rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    from envstacks.floor.platforms import require_host_platform  # noqa: PLC0415
    from envstacks.floor.report import NullReporter  # noqa: PLC0415
    from envstacks.orchestrator.distribution import deploy  # noqa: PLC0415 - after argument parsing
    from envstacks.orchestrator.plugins import get_plugin_manager  # noqa: PLC0415
    from envstacks.stages.oci import PushOptions  # noqa: PLC0415
    from envstacks.stages.oci.push_folder import push_publish_folder  # noqa: PLC0415

    work = args.keep or Path(tempfile.mkdtemp(prefix="envstacks-bench-registry-"))
    work.mkdir(parents=True, exist_ok=True)
    v1, v2 = build_versions(work)
    manifest = {
        version: json.loads((path / "__venvstacks__" / "venvstacks.json").read_text())
        for version, path in (("v1", v1), ("v2", v2))
    }
    # A kept work folder remembers earlier runs' registries: start without (fresh registries).
    for folder in (v1, v2):
        (folder / "__venvstacks__" / "pushed.json").unlink(missing_ok=True)
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

    def push(
        version: str, path: Path, tag: str, *, repository: str = "example", merge: bool = False
    ) -> Any:
        url = f"oci://127.0.0.1:{registries[-1].port}/{repository}:{tag}"
        return push_publish_folder(
            path, PushOptions(target=url), platforms=None, merge=merge, reporter=reporter
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
        figures["v2 bytes uploaded, registry"] = pushed.uploaded_bytes
        figures["v2 bytes written, folder copy"] = folder_bytes(v2)
        fresh(target)()
        deploy(url_v1, target, pm=pm, reporter=reporter)
        before = registry.blob_bytes()
        update = deploy(url_v1.replace(":v1", ":v2"), target, pm=pm, reporter=reporter)
        figures["v2 bytes downloaded, registry"] = registry.blob_bytes() - before
        changed = [t for t in update.transfers if t.method != "reused"]
        app = next(
            entry
            for entry in manifest["v2"]["layers"]["applications"]
            if entry["install_target"] == changed[0].install_target
        )
        figures["update layer bytes, registry"] = sum(t.downloaded_bytes for t in changed)
        fresh(target)()
        deploy(v1, target, pm=pm, reporter=reporter)
        from_folder = deploy(v2, target, pm=pm, reporter=reporter)
        figures["update layer bytes, folder"] = sum(
            t.downloaded_bytes for t in from_folder.transfers if t.method != "reused"
        )
        figures["update full archive bytes"] = app["archive_size"]
        figures["update method"] = 1.0 if changed[0].method == "delta" else 0.0

        # The same stack pushed to a second repository: every blob mounted from the first.
        mark = registry.uploaded_blobs()
        second = push("v2", v2, "v2", repository="example-release")
        figures["second repository bytes uploaded"] = second.uploaded_bytes
        figures["second repository blob uploads (registry log)"] = registry.uploaded_blobs() - mark
        figures["second repository bytes mounted"] = second.mounted_bytes

        # Concurrent pushes of two platforms to one tag, round after round.
        other = relabelled(v1, work / "other-platform", "win_amd64")
        kept = 0
        for number in range(args.concurrent_rounds):
            tag = f"concurrent-{number}"
            with ThreadPoolExecutor(2) as pool:
                for _result in pool.map(
                    lambda folder, tag=tag: push("v1", folder, tag, merge=True), (v1, other)
                ):
                    pass  # a push that failed raises here
            client_ref = f"oci://127.0.0.1:{registry.port}/example:{tag}"
            kept += tag_platforms(client_ref) == {platform, "win_amd64"}
        figures["concurrent rounds"] = args.concurrent_rounds
        figures["concurrent rounds with both platforms kept"] = kept
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


def tag_platforms(url: str) -> set[str]:
    """The envstacks platforms a tag's index lists."""
    from envstacks.published import oci_layout as oa  # noqa: PLC0415
    from envstacks.stages.oci.client import RegistryClient  # noqa: PLC0415
    from envstacks.stages.oci.reference import parse_reference  # noqa: PLC0415

    reference = parse_reference(url)
    data, _, _ = RegistryClient(reference, push=False).get_manifest(
        reference.tag or "", what="read"
    )
    entries = oa.manifest_json(data, where=url)["manifests"]
    return {p for p in map(oa.entry_platform, entries) if p}


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
    print()
    layer, full = f["update layer bytes, registry"], f["update full archive bytes"]
    method = "delta" if f["update method"] else "full"
    print(
        f"update of one app module from the registry ({method}): {int(layer):,} bytes for the "
        f"layer, {int(full):,} for its full archive: {layer / full:.4f} (from the folder: "
        f"{int(f['update layer bytes, folder']):,} bytes)"
    )
    print(
        f"push to a second repository: {int(f['second repository bytes uploaded']):,} blob "
        f"bytes uploaded ({int(f['second repository blob uploads (registry log)'])} blob "
        f"uploads in the registry's log), {int(f['second repository bytes mounted']):,} mounted"
    )
    print(
        f"concurrent pushes of two platforms: both kept in "
        f"{int(f['concurrent rounds with both platforms kept'])} of "
        f"{int(f['concurrent rounds'])} rounds"
    )


if __name__ == "__main__":
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    main()
