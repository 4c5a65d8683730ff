"""Deploy the torch stack with venvstacks 0.8 and with envstacks in one run: the ">= 8x" figure.

venvstacks 0.8 runs offline through ``../shared/bench-venvstacks`` (``setup.sh`` installs it
under ``$PEER_ROOT``, default /tmp/peer; ``venvstacks_offline.py`` replaces only its
python-build-standalone download by a local relocated CPython 3.12.1). In one run, on copies
of ``example_projects/torch-stack`` in WORK (default /work/scratch/torchpeer/bench):

1. venvstacks: ``lock``, ``build``, ``publish`` of ``venvstacks.toml`` (its tar.xz archives,
   one thread: most of an hour here) on a fresh uv cache of its own, under ``nice -n 10``;
2. envstacks: ``build`` (committed locks, warm uv cache) and ``publish`` of ``pyproject.toml``
   (tar.zst archives), also under ``nice -n 10``;
3. with ``--xz``: envstacks ``lock``, ``build`` and ``publish`` of ``venvstacks.toml`` (the
   drop-in's tar.xz archives; one thread per layer, about as long as venvstacks' publish);
4. deploys, interleaved over ``--rounds``, each archive set read once first so every deploy
   starts from the page cache: venvstacks' documented procedure (``stack_check.py deploy``:
   verify size and sha256, unpack each tar.xz, run each layer's postinstall.py; venvstacks
   has no deploy command of its own), ``envstacks deploy`` of venvstacks' own tar.xz
   archives, of envstacks' tar.zst ones and (``--xz``) of its tar.xz ones; after each, the
   deployed app runs (``import torch``, CUDA's libraries from framework-cuda) and the tree is
   removed.

Every step: wall time and the peak RSS of its whole process tree (``scale.measure``). The
report gives each envstacks figure with venvstacks' from the same run and their ratio. A
step that fails is recorded with its error, and what needs it skipped.

Disk: about 30 GB at the peak (venvstacks' uv cache ~9 GB, the archive sets, one deployed
tree). ``--keep`` leaves WORK in place (and ``--deploy-only`` then deploys its archives
again, reusing that run's publish figures); otherwise it is removed at the end.

Usage: python benchmarks/scale_peer.py [--work DIR] [--rounds N] [--xz] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
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
    """The deployed app: ``import torch``, a CPU product, CUDA's libraries from framework-cuda.

    Without the app (``--layers`` left it out), the CUDA runtime is loaded from the deployed
    framework-cuda instead, through cuda-bindings.
    """
    if not (target / "framework-cuda").is_dir():
        return {"error": f"no app-torch-check nor framework-cuda in {target}"}
    if not (target / "app-torch-check").is_dir():
        code = "import cuda.bindings.runtime as r; print(r.cudaRuntimeGetVersion())"
        m = attempt([target / "framework-cuda" / "bin" / "python", "-c", code], cwd=target)
        if "error" not in m:
            m["layers"] = m["stdout"].strip()
        return m
    config = json.loads(
        (target / "app-torch-check" / "share/venv/metadata/venvstacks_layer.json").read_text()
    )
    python = target / "app-torch-check" / config["python"]
    m = attempt([python, "-m", config["launch_module"], "--json"], cwd=target)
    if "error" not in m:
        m["layers"] = json.loads(m["stdout"].strip().splitlines()[-1])
    return m


DEPLOYS = {
    # label: (tool, published folder in WORK, --deploys name)
    "venvstacks' procedure, its tar.xz": ("venvstacks", "published-peer", "venvstacks"),
    "envstacks, venvstacks' tar.xz": ("envstacks", "published-peer", "envstacks-peer"),
    "envstacks, its tar.zst": ("envstacks", "published-zst", "envstacks-zst"),
    "envstacks, its tar.xz (venvstacks.toml)": ("envstacks", "published-xz", "envstacks-xz"),
}
PEER_DEPLOY = next(iter(DEPLOYS))
PARTS = ("venvstacks", "envstacks", "deploy")
MANIFEST = Path("__venvstacks__", "venvstacks.json")
#: The fields of a layer in venvstacks 0.8's manifest (envstacks adds a few of its own).
VENVSTACKS_FIELDS = {
    *("app_launch_module", "app_launch_module_hash", "archive_build", "archive_hashes"),
    *("archive_name", "archive_size", "bound_to_implementation", "install_target"),
    *("layer_name", "lock_version", "locked_at", "python_implementation", "required_layers"),
    *("requirements_hash", "runtime_layer", "target_platform"),
}


def partial(work: Path, layers: list[str]) -> None:
    """``partial-*`` archive folders holding only ``layers``, for a publish that did not end.

    venvstacks writes its manifest after its last archive: when its publish is stopped early,
    the manifest written here lists its finished archives (name, size, sha256 as found) with
    the layers' other fields from envstacks' manifest of the same stack.
    """
    ours = json.loads((work / "published-zst" / MANIFEST).read_text())
    for folder in ("published-peer", "published-zst", "published-xz"):
        source, out = work / folder, fresh(work / f"partial-{folder}")
        if not source.is_dir():
            continue
        out.joinpath(MANIFEST).parent.mkdir(parents=True)
        found = source / MANIFEST
        manifest = json.loads(found.read_text()) if found.exists() else ours
        for kind, entries in manifest["layers"].items():
            kept = [e for e in entries if e["install_target"] in layers]
            for entry in kept:
                if not found.exists():  # venvstacks' archive under envstacks' entry
                    archive = source / (entry["install_target"] + ".tar.xz")
                    for extra in set(entry) - VENVSTACKS_FIELDS:
                        del entry[extra]
                    entry["archive_name"] = archive.name
                    entry["archive_size"] = archive.stat().st_size
                    entry["archive_hashes"] = {"sha256": sha256(archive)}
                os.link(source / entry["archive_name"], out / entry["archive_name"])
            manifest["layers"][kind] = kept
        out.joinpath(MANIFEST).write_text(json.dumps(manifest, indent=2))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def deploys(
    work: Path, peer_python: Path, rounds: int, names: list[str], prefix: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """Each archive set deployed, its app run, the tree removed; interleaved, ``rounds`` times."""
    labels = [
        label
        for label, (_, folder, name) in DEPLOYS.items()
        if name in names and (work / (prefix + folder) / MANIFEST).is_file()
    ]
    r: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for index in range(rounds):
        for label in labels if index % 2 == 0 else reversed(labels):
            tool, folder, _ = DEPLOYS[label]
            target, folder = fresh(work / "deployed"), prefix + folder
            warm(work / folder)
            argv: list[str | Path] = [sys.executable, "-m", "envstacks", "deploy"]
            argv += [work / folder, "--target", target]
            if tool == "venvstacks":
                argv = [peer_python, BENCH / "stack_check.py", "deploy", work / folder, target]
            m = attempt(argv)
            if "error" in m:
                print(f"deploy ({label}) failed:\n{m['error']}", file=sys.stderr)
            else:
                m["tree_bytes"] = du(target)
                m["app"] = run_app(target)
                print(f"deploy ({label}): {m['seconds']:.1f} s", file=sys.stderr)
            r[label].append(m)
            shutil.rmtree(target, ignore_errors=True)
    return r


def strip(value: Any) -> Any:
    """A result without the captured output, for the JSON file."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in ("stdout", "stderr")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def cell(step: dict[str, Any] | None) -> tuple[str, str]:
    if not step:
        return "not run", ""
    if "error" in step:
        return "failed", ""
    return f"{step['seconds']:.1f} s", mb(step["peak_rss"])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The median time and the highest peak of a deploy's rounds (None: none succeeded)."""
    ok = [m for m in runs if "error" not in m]
    if not ok:
        return {"error": runs[0]["error"]} if runs else None
    return {
        "seconds": statistics.median(m["seconds"] for m in ok),
        "peak_rss": max(m["peak_rss"] for m in ok),
        "runs": [round(m["seconds"], 1) for m in ok],
    }


def row(step: str, mine: dict[str, Any] | None, theirs: dict[str, Any] | None) -> str:
    (t_mine, rss_mine), (t_theirs, rss_theirs) = cell(mine), cell(theirs)
    ratio = ""
    if mine and theirs and "error" not in mine and "error" not in theirs:
        ratio = f"{theirs['seconds'] / mine['seconds']:.1f}x"
    return f"| {step} | {t_mine} | {rss_mine} | {t_theirs} | {rss_theirs} | {ratio} |"


def report(r: dict[str, Any]) -> str:
    p, zst, xz = r.get("venvstacks", {}), r.get("zst", {}), r.get("xz", {})
    lines = [
        "| step | envstacks | peak RSS | venvstacks 0.8 | peak RSS | venvstacks / envstacks |",
        "|---|---|---|---|---|---|",
        row("lock (venvstacks.toml, from scratch)", xz.get("lock"), p.get("lock")),
        row("build (envstacks: committed locks, warm uv cache)", zst.get("build"), p.get("build")),
        row("publish (envstacks: tar.zst)", zst.get("publish"), p.get("publish")),
    ]
    if xz:
        lines.append(row("publish (envstacks: tar.xz)", xz.get("publish"), p.get("publish")))
    deployed = {label: summary(runs) for label, runs in r.get("deploy", {}).items()}
    theirs = deployed.get(PEER_DEPLOY)
    for label, mine in deployed.items():
        if label != PEER_DEPLOY:
            lines.append(row(f"deploy ({label})", mine, theirs))
    lines.append("")
    if r.get("deploy_layers"):
        lines.append(f"deployed layers: {r['deploy_layers']} (partial-* archive folders)")
    lines.append(f"each part finished (UTC): {json.dumps(r.get('finished', {}))}")
    sizes = [
        ("venvstacks 0.8 (tar.xz)", p),
        ("envstacks (tar.zst)", zst),
        ("envstacks (tar.xz)", xz),
    ]
    for label, step in sizes:
        if step.get("archives"):
            found = step["archives"]
            lines.append(f"archives, {label}: {mb(sum(found.values()))} in {len(found)} files")
    for label, summed in deployed.items():
        if summed and "runs" in summed:
            lines.append(f"deploy ({label}), each round: {summed['runs']} s")
    for label, runs in r.get("deploy", {}).items():
        apps = [m["app"] for m in runs if "app" in m]
        if apps:
            status = "failed" if "error" in apps[-1] else json.dumps(apps[-1]["layers"])
            lines.append(f"app after the deploy ({label}): {status}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/torchpeer/bench"))
    parser.add_argument("--peer-root", type=Path, default=Path("/tmp/peer"))
    parser.add_argument(
        "--xz", action="store_true", help="also envstacks' tar.xz publish (about an hour)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="deploy rounds, interleaved")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="leave WORK in place")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); the others' figures are read from WORK, where "
        "each part leaves them (published.json) with its archives when --keep is given",
    )
    parser.add_argument(
        "--layers",
        help="deploy only these layers (comma-separated install targets), e.g. when "
        "venvstacks' publish was stopped before its last archive",
    )
    parser.add_argument(
        "--deploys",
        default=",".join(name for _, _, name in DEPLOYS.values()),
        help="which deploys (comma-separated; default all whose archives exist): "
        + ", ".join(name for _, _, name in DEPLOYS.values()),
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
    parts = args.only or PARTS
    saved = work / "published.json"
    r: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    if "venvstacks" in parts:
        r["venvstacks"] = publish_peer(work, peer_python)
    if "envstacks" in parts:
        r["zst"] = ours(work, "pyproject.toml", fresh(work / "published-zst"), "tar.zst", False)
        if args.xz:
            r["xz"] = ours(work, "venvstacks.toml", fresh(work / "published-xz"), "tar.xz", True)
    if "deploy" in parts and args.layers:
        partial(work, args.layers.split(","))
        r["deploy_layers"] = args.layers
        names = args.deploys.split(",")
        r.setdefault("deploy", {}).update(
            deploys(work, peer_python, args.rounds, names, prefix="partial-")
        )
    elif "deploy" in parts:
        names = args.deploys.split(",")
        r.setdefault("deploy", {}).update(deploys(work, peer_python, args.rounds, names))
    r.setdefault("finished", {}).update(dict.fromkeys(parts, now()))
    saved.write_text(json.dumps(strip(r), indent=2, default=str))
    print(report(r))
    if args.json:
        args.json.write_text(json.dumps(strip(r), indent=2, default=str))
    if not args.keep:
        shutil.rmtree(work)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def publish_peer(work: Path, peer_python: Path) -> dict[str, Any]:
    """``peer`` with its own uv cache: venvstacks' uv (0.8) keeps other cache buckets."""
    uv_cache = os.environ.get("UV_CACHE_DIR")
    os.environ["UV_CACHE_DIR"] = str(work / "uv-cache-venvstacks")
    try:
        return peer(work, peer_python)
    finally:
        if uv_cache is None:
            del os.environ["UV_CACHE_DIR"]
        else:
            os.environ["UV_CACHE_DIR"] = uv_cache
        shutil.rmtree(work / "uv-cache-venvstacks", ignore_errors=True)


if __name__ == "__main__":
    main()
