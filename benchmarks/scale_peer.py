"""Deploy the torch stack with venvstacks 0.8 and with envstacks in one run: the ">= 8x" figure.

venvstacks 0.8 runs offline through ``../shared/bench-venvstacks`` (``setup.sh`` installs it
under ``$PEER_ROOT``, default /tmp/peer; ``venvstacks_offline.py`` replaces only its
python-build-standalone download by a local relocated CPython 3.12.1). In one run, on copies
of ``example_projects/torch-stack`` in WORK (default /work/scratch/torchpeer/bench):

1. venvstacks: ``lock``, ``build``, ``publish`` of ``venvstacks.toml`` (its tar.xz archives),
   under ``nice -n 10`` (the publish holds one core for a long time on a shared machine);
2. envstacks: ``build`` (committed locks, warm uv cache) and ``publish`` of ``pyproject.toml``
   (tar.zst archives), also under ``nice -n 10``;
3. with ``--xz``: envstacks ``lock``, ``build`` and ``publish`` of ``venvstacks.toml`` (the
   drop-in: tar.xz archives, as venvstacks writes);
4. deploys, back to back, each archive set read once first so both start from the page
   cache: venvstacks' documented procedure (``stack_check.py deploy``: verify size and sha256,
   unpack each tar.xz, run each layer's postinstall.py), ``envstacks deploy`` of the tar.zst
   archives and, with ``--xz``, of the tar.xz ones; after each, the app runs (``import
   torch`` from the deployed layers) and the tree is removed.

Every step: wall time and the peak RSS of its whole process tree (``scale.measure``). The
report gives each envstacks figure with venvstacks' from this run and their ratio. A
venvstacks step that fails is recorded with its error, and the steps that need it skipped.

Disk: about 30 GB at the peak (venvstacks' own uv cache ~9 GB, both archive sets, one
deployed tree). ``--keep`` leaves WORK in place; otherwise it is removed at the end.

Usage: python benchmarks/scale_peer.py [--work DIR] [--xz] [--json out.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from scale import EXAMPLE, REPO, du, fresh, measure

BENCH = REPO.parent / "shared" / "bench-venvstacks"
NICE = ["nice", "-n", "10"]
IGNORE = shutil.ignore_patterns("_*", "dist", "requirements", "__pycache__")


def attempt(argv: list[str | Path], cwd: Path | None = None) -> dict[str, Any]:
    """``measure``, but a failure is returned (``error``: its output's tail) instead of exiting."""
    try:
        return measure(argv, cwd=cwd)
    except SystemExit as failed:
        return {"error": "\n".join(str(failed).splitlines()[-40:])}


def warm(folder: Path) -> None:
    """Read every archive once, so each deploy starts with its archives in the page cache."""
    for path in sorted(folder.iterdir()):
        if path.is_file():
            subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)


def archives(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.glob("*.tar.*"))}


def peer(work: Path, peer_python: Path) -> dict[str, Any]:
    """Lock, build and publish ``venvstacks.toml`` with venvstacks 0.8 (own cold uv cache)."""
    project = fresh(work / "peer")
    shutil.copytree(EXAMPLE, project, ignore=IGNORE)
    tool: list[str | Path] = [*NICE, peer_python, BENCH / "venvstacks_offline.py"]
    r: dict[str, Any] = {}
    out = work / "published-peer"
    steps: list[tuple[str, list[str | Path]]] = [
        ("lock", ["lock", "venvstacks.toml"]),
        ("build", ["build", "venvstacks.toml"]),
        ("publish", ["publish", "--output-dir", out, "venvstacks.toml"]),
    ]
    for name, args in steps:
        r[name] = attempt([*tool, *args], cwd=project)
        if "error" in r[name]:
            print(f"venvstacks {name} failed:\n{r[name]['error']}", file=sys.stderr)
            return r
        print(f"venvstacks {name}: {r[name]['seconds']:.1f} s", file=sys.stderr)
    r["tree_bytes"] = du(project / "_build")
    r["archives"] = archives(out)
    shutil.rmtree(project / "_build")
    return r


def ours(work: Path, spec: str, out: Path, fmt: str, lock: bool) -> dict[str, Any]:
    """Build (and lock) and publish one spec of the example with envstacks, in one format."""
    project = fresh(work / f"envstacks-{spec.split('.', maxsplit=1)[0]}")
    ignore = IGNORE if spec == "venvstacks.toml" else shutil.ignore_patterns("_*", "dist")
    shutil.copytree(EXAMPLE, project, ignore=ignore)
    tool: list[str | Path] = [*NICE, sys.executable, "-m", "envstacks"]
    r: dict[str, Any] = {}
    steps: list[tuple[str, list[str | Path]]] = [
        ("build", ["build", spec]),
        ("publish", ["publish", spec, "--output-dir", out, "--format", fmt]),
    ]
    if lock:
        steps.insert(0, ("lock", ["lock", spec]))
    for name, args in steps:
        r[name] = attempt([*tool, *args], cwd=project)
        if "error" in r[name]:
            print(f"envstacks {spec} {name} failed:\n{r[name]['error']}", file=sys.stderr)
            shutil.rmtree(project)
            return r
        print(f"envstacks {spec} {name}: {r[name]['seconds']:.1f} s", file=sys.stderr)
    r["tree_bytes"] = du(project / "_build")
    r["archives"] = archives(out)
    shutil.rmtree(project)
    return r


def run_app(target: Path) -> dict[str, Any]:
    """The deployed app: ``import torch``, a CPU product, CUDA's libraries from framework-cuda."""
    config = json.loads(
        (target / "app-torch-check" / "share/venv/metadata/venvstacks_layer.json").read_text()
    )
    python = target / "app-torch-check" / config["python"]
    m = attempt([python, "-m", config["launch_module"], "--json"], cwd=target)
    if "error" not in m:
        m["layers"] = json.loads(m["stdout"].strip().splitlines()[-1])
    return m


def deploys(work: Path, published: dict[str, Path], peer_python: Path) -> dict[str, Any]:
    """Each archive set deployed, its app run, the tree removed; back to back."""
    r: dict[str, Any] = {}
    for name, folder in published.items():
        target = fresh(work / f"deployed-{name}")
        warm(folder)
        if name == "venvstacks":
            argv: list[str | Path] = [
                peer_python,
                BENCH / "stack_check.py",
                "deploy",
                folder,
                target,
            ]
        else:
            argv = [sys.executable, "-m", "envstacks", "deploy", folder, "--target", target]
        r[name] = attempt(argv)
        if "error" in r[name]:
            print(f"deploy {name} failed:\n{r[name]['error']}", file=sys.stderr)
        else:
            r[name]["tree_bytes"] = du(target)
            r[name]["app"] = run_app(target)
            print(f"deploy {name}: {r[name]['seconds']:.1f} s", file=sys.stderr)
        shutil.rmtree(target, ignore_errors=True)
    return r


def strip(d: dict[str, Any]) -> dict[str, Any]:
    """A result without the captured output, for the JSON file."""
    drop = ("stdout", "stderr")
    return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items() if k not in drop}


def mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def cell(step: dict[str, Any] | None) -> tuple[str, str]:
    if not step:
        return "not run", ""
    if "error" in step:
        return "failed", ""
    return f"{step['seconds']:.1f} s", mb(step["peak_rss"])


def report(r: dict[str, Any]) -> str:
    p, d = r["venvstacks"], r["deploy"]
    rows: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("lock", p.get("lock"), r.get("xz", {}).get("lock")),
        ("build", p.get("build"), r["zst"].get("build")),
        ("publish (tar.zst)", p.get("publish"), r["zst"].get("publish")),
        ("publish (tar.xz, venvstacks.toml)", p.get("publish"), r.get("xz", {}).get("publish")),
        ("deploy (tar.zst)", d.get("venvstacks"), d.get("envstacks-zst")),
        ("deploy (tar.xz, venvstacks.toml)", d.get("venvstacks"), d.get("envstacks-xz")),
    ]
    lines = [
        "| step | envstacks | peak RSS | venvstacks 0.8 | peak RSS | venvstacks ÷ envstacks |",
        "|---|---|---|---|---|---|",
    ]
    for step, theirs, mine in rows:
        if mine is None and step.endswith("venvstacks.toml)"):
            continue
        (t_mine, rss_mine), (t_theirs, rss_theirs) = cell(mine), cell(theirs)
        ok = mine and theirs and "error" not in mine and "error" not in theirs
        ratio = f"{theirs['seconds'] / mine['seconds']:.1f}x" if ok else ""  # type: ignore[index]
        lines.append(f"| {step} | {t_mine} | {rss_mine} | {t_theirs} | {rss_theirs} | {ratio} |")
    sizes = [("venvstacks 0.8 (tar.xz)", p.get("archives"))]
    sizes += [("envstacks (tar.zst)", r["zst"].get("archives"))]
    sizes += [("envstacks (tar.xz)", r.get("xz", {}).get("archives"))]
    lines.append("")
    for label, found in sizes:
        if found:
            lines.append(f"archives, {label}: {mb(sum(found.values()))} in {len(found)} files")
    for name, step in d.items():
        app = step.get("app") if isinstance(step, dict) else None
        if app:
            status = "failed" if "error" in app else json.dumps(app["layers"])
            lines.append(f"app after the {name} deploy: {status}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/torchpeer/bench"))
    parser.add_argument("--peer-root", type=Path, default=Path("/tmp/peer"))
    parser.add_argument("--xz", action="store_true", help="also the venvstacks.toml drop-in")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="leave WORK in place")
    parser.add_argument(
        "--reuse-peer",
        action="store_true",
        help="reuse venvstacks' lock/build/publish of an earlier --keep run in WORK",
    )
    args = parser.parse_args()
    peer_python = args.peer_root / "venv" / "bin" / "python"
    if not peer_python.exists():
        sys.exit(f"no venvstacks 0.8 at {peer_python}: run {BENCH}/setup.sh first")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PEER_ROOT"] = str(args.peer_root)
    os.environ["VENVSTACKS_LOCAL_RUNTIMES"] = str(args.peer_root / "runtimes")
    os.environ.setdefault("ENVSTACKS_ARCHIVE_CACHE_DIR", str(work / "archive-cache"))
    r: dict[str, Any] = {}
    # venvstacks' own uv (0.8) keeps its own cache buckets: a fresh one here, removed after.
    saved = work / "venvstacks.json"
    if args.reuse_peer and saved.exists():
        r["venvstacks"] = json.loads(saved.read_text())
        r["venvstacks"]["reused"] = True  # from an earlier invocation: say so in the report
    else:
        uv_cache = os.environ.get("UV_CACHE_DIR")
        os.environ["UV_CACHE_DIR"] = str(work / "uv-cache-venvstacks")
        r["venvstacks"] = peer(work, peer_python)
        if uv_cache is None:
            del os.environ["UV_CACHE_DIR"]
        else:
            os.environ["UV_CACHE_DIR"] = uv_cache
        shutil.rmtree(work / "uv-cache-venvstacks", ignore_errors=True)
        saved.write_text(json.dumps(strip(r["venvstacks"]), indent=2, default=str))
    r["zst"] = ours(work, "pyproject.toml", fresh(work / "published-zst"), "tar.zst", lock=False)
    published = {"envstacks-zst": work / "published-zst"}
    if args.xz:
        out = fresh(work / "published-xz")
        r["xz"] = ours(work, "venvstacks.toml", out, "tar.xz", lock=True)
        if "error" not in r["xz"].get("publish", {"error": ""}):
            published["envstacks-xz"] = out
    if "error" not in r["zst"].get("publish", {"error": ""}):
        published = {"envstacks-zst": work / "published-zst", **published}
    else:
        del published["envstacks-zst"]
    if "publish" in r["venvstacks"] and "error" not in r["venvstacks"]["publish"]:
        published = {"venvstacks": work / "published-peer", **published}
    r["deploy"] = deploys(work, published, peer_python)
    print(report(r))
    if args.json:
        args.json.write_text(json.dumps(strip(r), indent=2, default=str))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
