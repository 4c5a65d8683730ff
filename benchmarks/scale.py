"""Benchmark a gigabyte stack (example_projects/torch-stack: CUDA 13 + PyTorch) against its floors.

One run, on a copy of the example in WORK (default /work/scratch/scale/bench; about 35 GB of
disk at the peak, folders removed as soon as they are measured), every figure next to the
floor measured in the same run on the same tree:

* ``lock`` (from scratch, warm uv cache), ``build`` (clean), ``publish``, ``deploy``,
  ``local-export``: wall time and peak memory, the peak being the summed RSS of the whole
  process tree (envstacks and every child: uv, zstd workers, postinstall), sampled from
  ``/proc`` every 50 ms;
* publish against ``tar -c | zstd -T2 -<level>`` of the same built layer folders, at
  envstacks' zstd level;
* deploy against ``zstd -dc | tar -x`` of the published archives and a page-cache ``tar -x``
  of an uncompressed tar of the deployed tree (read once before timing);
* local-export against ``cp -al`` of the build folder;
* an update: no torch newer than 2.15.0 exists, so a stack of the runtime and the ``cuda``
  layer alone is published, then one nvidia package is bumped (``--bump``, default
  nvidia-cublas 13.4.1.3 -> 13.4.2.4, the largest) and published again with ``--delta-from``,
  once with file-level deltas and once with chunk patches: delta bytes, publish time and
  peak memory against the full archive, and deploy of each update over the first version
  (``deploy --json`` tells the path and bytes fetched) against a full deploy
  (``--only-update`` measures this alone);
* the first ``import torch`` in a fresh process: the deployed app layer against a plain venv
  holding the same locked packages, bytecode compiled (median of ``--rounds``, alternating).

venvstacks 0.8 (../shared/bench-venvstacks) is not run here: ``benchmarks/scale_peer.py``
runs it side by side with envstacks on the same stack (its single-threaded ``tar.xz`` publish
alone takes most of an hour).

Usage: python benchmarks/scale.py [--work DIR] [--rounds N] [--json out.json] [--keep]
       python benchmarks/scale.py --only-update (the update alone)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).parents[1]
EXAMPLE = REPO / "example_projects" / "torch-stack"
PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(root: int) -> int:
    """Summed resident memory (bytes) of ``root`` and all its descendants now."""
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, ()))
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(argv: list[str | Path], cwd: Path | None = None, shell: bool = False) -> dict[str, Any]:
    """Run a command; its wall time, the peak RSS of its process tree and its output."""
    started = time.monotonic()
    proc = subprocess.Popen(
        " ".join(map(str, argv)) if shell else [str(a) for a in argv],
        cwd=cwd,
        shell=shell,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {argv}\n{out}\n{err}")
    return {"seconds": seconds, "peak_rss": peak[0], "stdout": out, "stderr": err}


def envstacks(*args: str | Path, cwd: Path) -> dict[str, Any]:
    return measure([sys.executable, "-m", "envstacks", *args], cwd=cwd)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def zstd_level() -> int:
    from envstacks.published import archive_tar  # noqa: PLC0415

    return int(archive_tar.ZSTD_LEVEL)


def pipeline(work: Path, rounds: int) -> dict[str, Any]:
    """Lock, build, publish, deploy and local-export the example, each next to its floor."""
    r: dict[str, Any] = {}
    project = fresh(work / "torch-stack")
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("_*", "dist", "requirements"))
    r["lock"] = envstacks("lock", cwd=project)
    committed = EXAMPLE / "requirements"
    r["locks_match_committed"] = all(
        (project / "requirements" / p.relative_to(committed)).read_text() == p.read_text()
        for p in committed.rglob("pylock.*.toml")
    )
    r["build"] = envstacks("build", cwd=project)
    build = project / "_build"
    layers = sorted(
        p.name for p in build.iterdir() if p.is_dir() and not p.name.endswith("_resolve")
    )
    r["tree_bytes"] = du(build)
    r["publish"] = envstacks("publish", cwd=project)
    out = project / "dist" / "venvstacks"
    archives = sorted(out.glob("*.tar.zst"))
    r["archive_bytes"] = sum(a.stat().st_size for a in archives)
    floor_out = fresh(work / "floor-publish")
    floor_out.mkdir()
    level = zstd_level()
    seconds = 0.0
    for layer in layers:
        m = measure(
            [
                "tar",
                "-C",
                build,
                "-c",
                layer,
                "|",
                "zstd",
                "-q",
                "-T2",
                f"-{level}",
                "-o",
                floor_out / f"{layer}.tar.zst",
            ],
            shell=True,
        )
        seconds += m["seconds"]
    r["floor_publish"] = {"seconds": seconds, "bytes": du(floor_out), "level": level}
    shutil.rmtree(floor_out)

    target = fresh(work / "deployed")
    r["deploy"] = envstacks("deploy", out, "--target", target, cwd=project)
    floor_dir = fresh(work / "floor-deploy")
    floor_dir.mkdir()
    seconds = 0.0
    for archive in archives:
        m = measure(["zstd", "-dc", archive, "|", "tar", "-x", "-C", floor_dir], shell=True)
        seconds += m["seconds"]
    r["floor_zstd_tar"] = {"seconds": seconds}
    shutil.rmtree(floor_dir)
    plain = work / "plain.tar"
    subprocess.run(["tar", "-C", target, "-cf", plain, "."], check=True)
    subprocess.run(["cat", plain], stdout=subprocess.DEVNULL, check=True)
    floor_dir.mkdir()
    r["floor_tar"] = measure(["tar", "-x", "-f", plain, "-C", floor_dir])
    plain.unlink()
    shutil.rmtree(floor_dir)

    export = fresh(work / "exported")
    r["local_export"] = envstacks("local-export", "--output-dir", export, cwd=project)
    shutil.rmtree(export)
    r["floor_cp_al"] = measure(["cp", "-al", build, work / "cp-al"])
    shutil.rmtree(work / "cp-al")

    r["import"] = first_import(work, project, target, rounds)
    shutil.rmtree(target)
    return r


def first_import(work: Path, project: Path, target: Path, rounds: int) -> dict[str, Any]:
    """``import torch`` in a fresh process: the deployed app layer against a plain venv.

    The plain venv's bytecode is compiled at install, as the layers' is at build: without it
    (and with ``PYTHONDONTWRITEBYTECODE`` set) every import would compile torch again.
    """
    venv = fresh(work / "plain-venv")
    subprocess.run(["uv", "venv", "-q", "--python", PYTHON, venv], check=True)
    for layer in ("framework-cuda", "framework-torch"):
        lock = next((project / "requirements" / layer).glob("pylock.*.toml"))
        subprocess.run(
            [
                "uv",
                "pip",
                "install",
                "-q",
                "--compile-bytecode",
                "--python",
                venv / "bin" / "python",
                "-r",
                lock,
            ],
            check=True,
        )
    code = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    pythons = {
        "deployed": target / "app-torch-check" / "bin" / "python",
        "plain_venv": venv / "bin" / "python",
    }
    times: dict[str, list[float]] = {name: [] for name in pythons}
    for index in range(rounds):
        order = list(pythons) if index % 2 == 0 else list(reversed(pythons))
        for name in order:
            m = measure([pythons[name], "-c", code])
            times[name].append(float(m["stdout"].strip().splitlines()[-1]))
    shutil.rmtree(venv)
    result: dict[str, Any] = {name: statistics.median(values) for name, values in times.items()}
    result["runs"] = times  # the first of each: before any pyc of the plain venv is written
    return result


CUDA_ONLY = """\
[project]
name = "cuda-update"
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
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "cuda"
runtime = "cpython-3.12"
requirements = {requirements}
"""


def update(work: Path, bump: tuple[str, str, str]) -> dict[str, Any]:
    """The cuda layer published, one nvidia package bumped, published again with deltas.

    The new version is published twice from the same build, each with ``--delta-from`` the
    first version: with file-level deltas (``ENVSTACKS_DELTA_PATCH_MIB=0``, a changed file
    shipped whole) and with chunk patches (the default); each delta is then deployed over
    the first version, which is put back in between.
    """
    import tomllib  # noqa: PLC0415

    spec = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    table = spec["tool"]["venvstacks"]
    cuda = next(f for f in table["frameworks"] if f["name"] == "cuda")
    name, old, new = bump
    before = list(cuda["requirements"])
    if f"{name}=={old}" not in before:
        sys.exit(f"--bump: {name}=={old} is not a requirement of the cuda layer")
    after = [f"{name}=={new}" if item == f"{name}=={old}" else item for item in before]
    project = fresh(work / "cuda-update")
    project.mkdir(parents=True)
    spec_file = project / "pyproject.toml"
    exclude_newer = "2026-12-07T00:00:00Z"
    r: dict[str, Any] = {"bump": f"{name} {old} -> {new}"}
    spec_file.write_text(
        CUDA_ONLY.format(exclude_newer=exclude_newer, requirements=json.dumps(before))
    )
    envstacks("build", "--lock-if-needed", "--publish", cwd=project)
    first = project / "dist"
    target = work / "update-target"
    fresh(target)
    r["deploy_full"] = envstacks("deploy", first, "--target", target, cwd=project)
    spec_file.write_text(
        CUDA_ONLY.format(exclude_newer=exclude_newer, requirements=json.dumps(after))
    )
    envstacks("lock", cwd=project)
    envstacks("build", cwd=project)
    for way, patch_mib in (("file", "0"), ("chunk", "")):
        output = project / f"dist-{way}"
        # Both pack the full archive too (no archive cache): their times compare.
        settings = {"ENVSTACKS_DELTA_PATCH_MIB": patch_mib, "ENVSTACKS_ARCHIVE_CACHE_DIR": "off"}
        os.environ.update(settings)
        try:
            published = envstacks(
                "publish", "--output-dir", output, "--delta-from", first, cwd=project
            )
        finally:
            for key in settings:
                del os.environ[key]
        archives = sorted(output.glob("framework-cuda*.tar.zst"))
        deltas = [p for p in archives if ".delta-" in p.name]
        r["full_bytes"] = next(p for p in archives if ".delta-" not in p.name).stat().st_size
        deployed = envstacks("deploy", output, "--target", target, "--json", cwd=project)
        # The delta's own step ("framework-cuda: delta from ...: done in 12.3 s"), apart from
        # packing the full archive, which both publishes do alike.
        steps = [
            float(line.rsplit("done in ", 1)[1].split()[0])
            for line in (published["stderr"] + published["stdout"]).splitlines()
            if "delta from" in line and "done in" in line
        ]
        r[way] = {
            "publish": published,
            "delta_seconds": sum(steps) if steps else None,
            "delta_bytes": sum(p.stat().st_size for p in deltas),
            "deploy": deployed,
            "deploy_json": json.loads(deployed["stdout"]),
        }
        envstacks("deploy", first, "--target", target, cwd=project)  # the first version again
        shutil.rmtree(output)
    shutil.rmtree(target)
    shutil.rmtree(project)
    return r


def mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB"


def update_report(u: dict[str, Any]) -> list[str]:
    """The update's table: file-level and chunk deltas against the full archive, one run."""
    lines = [
        f"update ({u['bump']}) of framework-cuda, full archive {mb(u['full_bytes'])}:",
        "",
        "| delta | bytes | of the full archive | publish (its delta step) | its peak RSS | "
        "deploy over the first version | its peak RSS | full deploy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way in ("file", "chunk"):
        w = u[way]
        step = "?" if w["delta_seconds"] is None else f"{w['delta_seconds']:.1f} s"
        lines.append(
            f"| {way} | {mb(w['delta_bytes'])} | {w['delta_bytes'] / u['full_bytes']:.1%} | "
            f"{w['publish']['seconds']:.1f} s ({step}) | {mb(w['publish']['peak_rss'])} | "
            f"{w['deploy']['seconds']:.1f} s | {mb(w['deploy']['peak_rss'])} | "
            f"{u['deploy_full']['seconds']:.1f} s |"
        )
    for way in ("file", "chunk"):
        deploy = u[way]["deploy_json"]
        lines.append(f"{way}: deploy --json: {json.dumps(deploy.get('transfers'))}")
    return lines


def report(r: dict[str, Any], u: dict[str, Any] | None) -> str:
    s = {k: v["seconds"] for k, v in r.items() if isinstance(v, dict) and "seconds" in v}
    rows = [
        ("lock", s["lock"], "", ""),
        ("build (clean, warm uv cache)", s["build"], "", ""),
        (
            "publish",
            s["publish"],
            f"tar -c | zstd -T2 -{r['floor_publish']['level']}",
            s["floor_publish"],
        ),
        ("deploy", s["deploy"], "zstd -dc | tar -x", s["floor_zstd_tar"]),
        ("deploy", s["deploy"], "tar -x (page cache)", s["floor_tar"]),
        ("local-export", s["local_export"], "cp -al", s["floor_cp_al"]),
    ]
    lines = [
        f"tree {mb(r['tree_bytes'])}, archives {mb(r['archive_bytes'])} "
        f"(floor's {mb(r['floor_publish']['bytes'])}); locks as committed: "
        f"{r['locks_match_committed']}",
        "",
        "| step | envstacks | peak RSS (tree) | floor | floor time | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for step, mine, floor, floor_s in rows:
        key = step.split(" ")[0].replace("-", "_")
        rss = mb(r[key]["peak_rss"])
        if floor:
            lines.append(
                f"| {step} | {mine:.1f} s | {rss} | {floor} | {floor_s:.1f} s | "
                f"{mine / floor_s:.2f}x |"
            )
        else:
            lines.append(f"| {step} | {mine:.1f} s | {rss} | | | |")
    imp = r["import"]
    lines.append(
        f"| first `import torch` | {imp['deployed']:.2f} s | | plain venv | "
        f"{imp['plain_venv']:.2f} s | {imp['deployed'] / imp['plain_venv']:.2f}x |"
    )
    lines.append(f"(each run of the import, s: {json.dumps(imp['runs'])})")
    if u:
        lines += ["", *update_report(u)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/scale/bench"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--bump",
        default="nvidia-cublas:13.4.1.3:13.4.2.4",
        help="NAME:OLD:NEW, a cuda-layer package bumped for the update",
    )
    parser.add_argument("--no-update", action="store_true", help="skip the update measurement")
    parser.add_argument(
        "--only-update", action="store_true", help="measure the update alone (no pipeline)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {} if args.only_update else pipeline(args.work, args.rounds)
    name, old, new = args.bump.split(":")
    upd = None if args.no_update else update(args.work, (name, old, new))
    print("\n".join(update_report(upd)) if args.only_update and upd else report(results, upd))
    if args.json:

        def strip(d: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in d.items() if k not in ("stdout", "stderr")}

        clean = {k: strip(v) if isinstance(v, dict) else v for k, v in results.items()}
        if upd:
            clean["update"] = {k: strip(v) if isinstance(v, dict) else v for k, v in upd.items()}
        args.json.write_text(json.dumps(clean, indent=2, default=str))


if __name__ == "__main__":
    main()
