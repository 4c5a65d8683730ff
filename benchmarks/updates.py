"""Benchmark updates by delta against full archives, on real PyPI packages, version by version.

A stack (a CPython 3.12 runtime with certifi; a framework layer with numpy, scipy, pandas
and packaging; an application with its own code and rich) is published as version 0, then
changed one step at a time, each version published into the same folder with
``--delta-from`` that folder (so each layer that changed gets a delta from the version
before):

1. a small package bumped in the framework layer (packaging 24.1 -> 24.2);
2. a new package added to the framework layer (tabulate);
3. the application's own code changed (one module);
4. the runtime layer's requirements changed (certifi 2024.8.30 -> 2025.1.31).

For each step it reports, per layer that changed, the full archive's bytes against the
delta's, and the time of ``envstacks deploy`` of the new version over the previous one: from
a copy of the manifest without deltas (full archives) and from the manifest (deltas), each
into the same deployment folder restored (``cp -a``, untimed) to the previous version before
each round, rounds alternating which goes first; medians, and their ratio. ``--json`` of each
deploy tells which path was taken and the bytes it fetched.

Usage: python benchmarks/updates.py [--rounds N] [--keep DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXCLUDE_NEWER = "2026-11-01T00:00:00Z"
SPEC = """\
[project]
name = "update-bench"
version = "1.0.0"
requires-python = ">=3.12"

[tool.venvstacks]
build-dir = "_build"
output-dir = "dist"
requirements-dir = "requirements"

[tool.venvstacks.uv]
exclude-newer = "{exclude_newer}"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = {runtime}

[[tool.venvstacks.frameworks]]
name = "sci"
runtime = "cpython-3.12"
requirements = {framework}

[[tool.venvstacks.applications]]
name = "calc"
launch_module = "src/calc"
frameworks = ["sci"]
requirements = ["rich==13.9.4"]
"""
APP = {
    "__init__.py": '"""A small calculator on pandas."""\n',
    "__main__.py": "from calc.report import main\n\nmain()\n",
    "report.py": (
        "import pandas as pd\nfrom rich.console import Console\n\nfrom calc.ops import total\n\n"
        "def main():\n    frame = pd.DataFrame({'x': [1, 2, 3]})\n"
        "    Console().print(f'total: {total(frame)}')\n"
    ),
    "ops.py": "def total(frame):\n    return int(frame['x'].sum())\n",
}
BASE_FRAMEWORK = ["numpy>=2.1,<3", "scipy>=1.14", "pandas>=2.2"]
VERSIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "version 0",
        {"runtime": ["certifi==2024.8.30"], "framework": [*BASE_FRAMEWORK, "packaging==24.1"]},
    ),
    (
        "1. small package bumped in the framework",
        {"framework": [*BASE_FRAMEWORK, "packaging==24.2"]},
    ),
    (
        "2. new package added to the framework",
        {"framework": [*BASE_FRAMEWORK, "packaging==24.2", "tabulate==0.9.0"]},
    ),
    (
        "3. application code changed (one module)",
        {"ops": "def total(frame):\n    return int(frame['x'].sum()) * 1\n"},
    ),
    ("4. runtime requirements changed", {"runtime": ["certifi==2025.1.31"]}),
]


def run(argv: list[str], cwd: Path) -> str:
    """Run a command, failing loudly with its output; return its stdout."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def write_version(project: Path, state: dict[str, Any]) -> None:
    """The project's spec and application code for one version."""
    text = SPEC.format(
        exclude_newer=EXCLUDE_NEWER,
        runtime=json.dumps(state["runtime"]),
        framework=json.dumps(state["framework"]),
    )
    (project / "pyproject.toml").write_text(text)
    package = project / "src" / "calc"
    package.mkdir(parents=True, exist_ok=True)
    for name, code in {**APP, "ops.py": state["ops"]}.items():
        if not (package / name).is_file() or (package / name).read_text() != code:
            (package / name).write_text(code)


def without_deltas(manifest: Path) -> Path:
    """A copy of the manifest listing no deltas (deploying from it uses full archives)."""
    data = json.loads(manifest.read_text())
    for entries in data["layers"].values():
        for entry in entries:
            entry.pop("deltas", None)
    copy = manifest.with_name("venvstacks-full-only.json")
    copy.write_text(json.dumps(data))
    return copy


def deploy(envstacks: list[str], source: Path | str, target: Path, work: Path) -> tuple[float, Any]:
    """Deploy with ``--json``; the wall time and the printed summary."""
    start = time.perf_counter()
    out = run([*envstacks, "deploy", str(source), "--target", str(target), "--json"], work)
    return time.perf_counter() - start, json.loads(out)


def layer_sizes(manifest: dict[str, Any], previous: dict[str, str]) -> list[dict[str, Any]]:
    """For each layer whose tree changed: full archive bytes and the delta from ``previous``."""
    rows = []
    for entries in manifest["layers"].values():
        for entry in entries:
            name, tree = entry["install_target"], entry["tree_hashes"]["sha256"]
            if previous.get(name) == tree:
                continue
            delta = next(
                (
                    d
                    for d in entry.get("deltas", ())
                    if d["base_tree_hashes"]["sha256"] == previous.get(name)
                ),
                None,
            )
            rows.append(
                {
                    "layer": name,
                    "full_bytes": entry["archive_size"],
                    "delta_bytes": delta["archive_size"] if delta else None,
                    "index_bytes": entry["file_index"]["size"],
                }
            )
    return rows


def trees(manifest: dict[str, Any]) -> dict[str, str]:
    """Tree hash of each layer."""
    return {
        e["install_target"]: e["tree_hashes"]["sha256"]
        for es in manifest["layers"].values()
        for e in es
    }


def main() -> None:
    """Publish the versions, deploy each over the previous, print sizes and times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="deploys of each kind per step")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--registry",
        action="store_true",
        help="also push each version and deploy it from a registry",
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="envstacks-bench-updates-"))
    project = work / "stack"
    shutil.rmtree(work, ignore_errors=True)
    project.mkdir(parents=True)
    envstacks = [sys.executable, "-m", "envstacks", "-q"]
    state: dict[str, Any] = {"ops": APP["ops.py"]}
    results: list[dict[str, Any]] = []
    previous: dict[str, str] = {}
    registry = None
    if args.registry:
        sys.path.insert(0, str(Path(__file__).parent))
        from registry import Registry  # noqa: PLC0415 - the sibling benchmark's registry

        (work / "registry").mkdir()
        registry = Registry(work / "registry")
    try:
        _versions(args, work, project, envstacks, state, results, previous, registry)
    finally:
        if registry is not None:
            registry.stop()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def _versions(  # noqa: PLR0917 - the benchmark's state, passed along once
    args: argparse.Namespace,
    work: Path,
    project: Path,
    envstacks: list[str],
    state: dict[str, Any],
    results: list[dict[str, Any]],
    previous: dict[str, str],
    registry: Any,
) -> None:
    """Publish each version, deploy it over the previous one, and record what it cost."""
    dist = project / "dist"
    manifest_path = dist / "__venvstacks__" / "venvstacks.json"
    target, pristine = work / "deployed", work / "previous"
    from_registry = work / "deployed-from-registry"
    for number, (title, change) in enumerate(VERSIONS):
        state.update(change)
        write_version(project, state)
        delta_from = ["--delta-from", str(dist)] if number else []
        run([*envstacks, "build", "--lock-if-needed", "--publish", *delta_from], project)
        manifest = json.loads(manifest_path.read_text())
        url = None
        if registry is not None:
            url = f"oci://127.0.0.1:{registry.port}/updates:v{number}"
            run([*envstacks, "push", str(dist), "--to", url], work)
        if number == 0:
            deploy(envstacks, dist, target, work)
            if url is not None:
                deploy(envstacks, url, from_registry, work)
            previous.update(trees(manifest))
            continue
        shutil.rmtree(pristine, ignore_errors=True)
        run(["cp", "-a", str(target), str(pristine)], work)
        sources = {"full": without_deltas(manifest_path), "delta": dist}
        times: dict[str, list[float]] = {"full": [], "delta": []}
        summaries: dict[str, Any] = {}
        for round_ in range(args.rounds):
            for kind in ("full", "delta") if round_ % 2 == 0 else ("delta", "full"):
                shutil.rmtree(target)
                run(["cp", "-a", str(pristine), str(target)], work)
                seconds, summaries[kind] = deploy(envstacks, sources[kind], target, work)
                times[kind].append(seconds)
        sources["full"].unlink()  # not a manifest of the publish folder (push would read it)
        run([str(target / "app-calc" / "bin" / "python"), "-m", "calc"], work)
        registry_transfers = None
        if url is not None:  # the update from the registry, over the previous version there
            _, summary = deploy(envstacks, url, from_registry, work)
            registry_transfers = summary.get("transfers")
            run([str(from_registry / "app-calc" / "bin" / "python"), "-m", "calc"], work)
        results.append(
            {
                "scenario": title,
                "layers": layer_sizes(manifest, previous),
                "deploy_full_s": statistics.median(times["full"]),
                "deploy_delta_s": statistics.median(times["delta"]),
                "deploy_times": times,
                "transfers_full": summaries["full"].get("transfers"),
                "transfers_delta": summaries["delta"].get("transfers"),
                "transfers_registry": registry_transfers,
            }
        )
        previous.clear()
        previous.update(trees(manifest))


def report(results: list[dict[str, Any]]) -> None:
    """The table docs/updates.md shows."""
    print(
        "| scenario | layer | full archive | delta | delta / full | deploy full s | "
        "deploy delta s | delta / full time |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        ratio_s = result["deploy_delta_s"] / result["deploy_full_s"]
        for index, row in enumerate(result["layers"]):
            delta = row["delta_bytes"]
            share = f"{delta / row['full_bytes']:.4f}" if delta else "-"
            first = index == 0
            print(
                f"| {result['scenario'] if first else ''} | {row['layer']} | "
                f"{row['full_bytes']:,} | {delta if delta is None else f'{delta:,}'} | {share} | "
                + (
                    f"{result['deploy_full_s']:.2f} | {result['deploy_delta_s']:.2f} | "
                    f"{ratio_s:.2f} |"
                    if first
                    else "| | |"
                )
            )
    registry_rows = [
        (result["scenario"], row)
        for result in results
        for row in result["layers"]
        if result.get("transfers_registry")
    ]
    if registry_rows:
        print("\n| scenario | layer | full archive | fetched from the registry | fetched / full |")
        print("|---|---|---:|---:|---:|")
        for title, row in registry_rows:
            result = next(r for r in results if r["scenario"] == title)
            fetched = next(
                t["downloaded_bytes"]
                for t in result["transfers_registry"]
                if t["install_target"] == row["layer"]
            )
            print(
                f"| {title} | {row['layer']} | {row['full_bytes']:,} | {fetched:,} | "
                f"{fetched / row['full_bytes']:.4f} |"
            )


if __name__ == "__main__":
    main()
