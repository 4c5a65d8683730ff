"""The pieces behind the providers: rpath rewriting, layout judgement, settings, reachability."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks.floor.errors import RuntimeProvisionError
from envstacks.floor.report import NullReporter
from envstacks.stages.runtime import VersionRequest, _elf, relocate
from envstacks.stages.runtime.local import candidates_in
from envstacks.stages.runtime.paths import user_cache_dir
from envstacks.stages.runtime.probe import InterpreterInfo, layout_problem
from envstacks.stages.runtime.provision import runtime_request
from envstacks.stages.runtime.uv_managed import reachability_problem

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF files")


@pytest.fixture
def small_elf(python_for, tmp_path: Path) -> Path:
    """A copy of a real interpreter binary (a small ELF that NEEDs libpython)."""
    prefix = python_for("3.12").resolve().parent.parent
    binary = prefix / "bin" / "python3.12"
    if not _elf.is_elf(binary):
        pytest.skip("the local 3.12 is not an ELF binary")
    copy = tmp_path / "copy" / "bin" / "python3.12"
    copy.parent.mkdir(parents=True)
    shutil.copy2(binary, copy)
    return copy


def _rpath(patchelf: str, path: Path) -> str:
    return subprocess.run(
        [patchelf, "--print-rpath", path], capture_output=True, text=True, check=True
    ).stdout.strip()


@linux_only
def test_rpath_into_the_source_becomes_origin_relative(small_elf: Path, tmp_path: Path) -> None:
    patchelf = _elf.find_patchelf()
    source = tmp_path / "source"
    copy_root = tmp_path / "copy"
    (copy_root / "lib").mkdir()
    needed = subprocess.run(
        [patchelf, "--print-needed", small_elf], capture_output=True, text=True, check=True
    ).stdout.split()
    libpython = next(name for name in needed if name.startswith("libpython"))
    (copy_root / "lib" / libpython).write_bytes(b"")
    old = f"{source}/lib:/usr/lib/x86_64-linux-gnu:$ORIGIN/extra:{source}/unused"
    subprocess.run([patchelf, "--set-rpath", old, small_elf], check=True)

    change = _elf.relocate_elf(
        small_elf,
        copy_root=copy_root,
        source_roots=(source,),
        patchelf=patchelf,
        reporter=NullReporter(),
    )

    assert change is not None and change.old == tuple(old.split(":"))
    # Into the source and needed: relative; system folder and $ORIGIN entries: kept;
    # into the source but nothing needed there: dropped.
    assert _rpath(patchelf, small_elf) == "$ORIGIN/../lib:/usr/lib/x86_64-linux-gnu:$ORIGIN/extra"
    again = _elf.relocate_elf(
        small_elf,
        copy_root=copy_root,
        source_roots=(source,),
        patchelf=patchelf,
        reporter=NullReporter(),
    )
    assert again is None


@linux_only
def test_rpath_needing_nothing_from_the_source_is_removed(small_elf: Path, tmp_path: Path) -> None:
    patchelf = _elf.find_patchelf()
    source = tmp_path / "source"
    subprocess.run([patchelf, "--set-rpath", f"{source}/lib", small_elf], check=True)
    change = _elf.relocate_elf(
        small_elf,
        copy_root=tmp_path / "copy",
        source_roots=(source,),
        patchelf=patchelf,
        reporter=NullReporter(),
    )
    assert change is not None and change.new == ()
    assert _rpath(patchelf, small_elf) == ""


def test_symlinks_into_the_source_become_relative_and_dangling_ones_go(tmp_path: Path) -> None:
    source, copy = tmp_path / "source", tmp_path / "copy"
    (copy / "lib").mkdir(parents=True)
    (copy / "lib" / "libfoo.so.1").write_bytes(b"x")
    (copy / "lib" / "libfoo.so").symlink_to(source / "lib" / "libfoo.so.1")
    (copy / "lib" / "gone").symlink_to(source / "lib" / "not-copied")
    (copy / "lib" / "system").symlink_to("/")
    relocate.relink_symlinks(copy, (source,), reporter=NullReporter())
    assert os.readlink(copy / "lib" / "libfoo.so") == "libfoo.so.1"
    assert (copy / "lib" / "libfoo.so").read_bytes() == b"x"
    assert not (copy / "lib" / "gone").is_symlink()
    assert os.readlink(copy / "lib" / "system") == "/"


def test_pkgconfig_prefix_follows_the_file(tmp_path: Path) -> None:
    source, copy = tmp_path / "source", tmp_path / "copy"
    folder = copy / "lib" / "pkgconfig"
    folder.mkdir(parents=True)
    ours = folder / "python-3.12.pc"
    ours.write_text(f"prefix={source}\nlibdir=${{prefix}}/lib\n", encoding="utf-8")
    theirs = folder / "other.pc"
    theirs.write_text("prefix=/usr\n", encoding="utf-8")
    assert relocate.fix_pkgconfig(copy, (source,)) == [ours]
    assert ours.read_text(encoding="utf-8") == "prefix=${pcfiledir}/../..\nlibdir=${prefix}/lib\n"
    assert theirs.read_text(encoding="utf-8") == "prefix=/usr\n"


def _info(prefix: Path, **changes: object) -> InterpreterInfo:
    stdlib = prefix / "lib" / "python3.12"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    (prefix / "bin" / "python3.12").write_bytes(b"")
    (prefix / "lib" / "libpython3.12.so.1.0").write_bytes(b"")
    info = InterpreterInfo(
        executable=(prefix / "bin" / "python3.12").resolve(),
        implementation="cpython",
        version=(3, 12, 1),
        releaselevel="final",
        prefix=prefix,
        base_prefix=prefix,
        scheme="posix_prefix",
        paths={
            "stdlib": str(stdlib),
            "platstdlib": str(stdlib),
            "purelib": str(stdlib / "site-packages"),
            "platlib": str(stdlib / "site-packages"),
        },
        platlibdir="lib",
        abiflags="",
        shared=True,
        ldlibrary="libpython3.12.so",
        instsoname="libpython3.12.so.1.0",
        libdir="/elsewhere/lib",
        gil_disabled=False,
    )
    return dataclasses.replace(info, **changes)  # type: ignore[arg-type]


@pytest.mark.skipif(os.name == "nt", reason="POSIX layouts")
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        (
            {"base_prefix": Path("/opt/base")},
            "a virtual environment (its base installation is /opt/base)",
        ),
        ({"gil_disabled": True}, "a free-threaded build"),
        (
            {"scheme": "posix_local"},
            "a distribution-patched layout (sysconfig scheme 'posix_local'",
        ),
        ({"platlibdir": "lib64"}, "platlibdir 'lib64'"),
        ({"executable": Path("/usr/bin/python3.12")}, "lies outside its prefix"),
        (
            {"instsoname": "libpython3.12.so.9", "ldlibrary": "libpython3.12.so"},
            "its shared libpython (libpython3.12.so) is not in",
        ),
        ({"shared": False, "instsoname": "", "ldlibrary": "libpython3.12.a"}, None),
    ],
)
def test_layout_judgement(tmp_path: Path, changes: dict[str, object], expected: str | None) -> None:
    problem = layout_problem(_info(tmp_path / "prefix", **changes))
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_pre_release_version_text(tmp_path: Path) -> None:
    info = _info(tmp_path, version=(3, 13, 0), releaselevel="candidate", serial=2)
    assert info.full_version == "3.13.0rc2"


@pytest.mark.parametrize("text", ["3", "3.12.1.2", "latest", "3.12-dev"])
def test_bad_version_request_names_the_layer(text: str) -> None:
    with pytest.raises(RuntimeProvisionError, match=f"runtime layer 'cpython-x'.*{text!r}"):
        VersionRequest.parse(text, layer="cpython-x")


def test_candidates_in_each_kind_of_place(tmp_path: Path) -> None:
    for folder in ("prefix/bin", "bindir", "versions/3.12.1/bin", "versions/3.11.7/bin"):
        (tmp_path / folder).mkdir(parents=True)
    for path in (
        "prefix/bin/python3.12",
        "bindir/python3.12",
        "versions/3.12.1/bin/python3.12",
        "versions/3.11.7/bin/python3.11",
    ):
        (tmp_path / path).write_bytes(b"")
    assert candidates_in(tmp_path / "prefix", "3.12") == [tmp_path / "prefix/bin/python3.12"]
    assert candidates_in(tmp_path / "bindir", "3.12") == [tmp_path / "bindir/python3.12"]
    assert candidates_in(tmp_path / "versions", "3.12") == [
        tmp_path / "versions/3.12.1/bin/python3.12"
    ]
    assert candidates_in(tmp_path / "bindir/python3.12", "3.12") == [tmp_path / "bindir/python3.12"]
    assert candidates_in(tmp_path / "versions", "3.13") == []


def test_request_takes_uv_settings_from_environment_first(
    tmp_path: Path, isolated, stack_writer
) -> None:
    mirror_dir = tmp_path / "mirror"
    with isolated(tmp_path / "cache") as patch:
        spec = stack_writer(
            tmp_path / "project",
            python="cpython@3.12",
            search_path=(tmp_path / "from-spec",),
            uv={"python-downloads-json-url": "pythons.json", "python-install-mirror": "mirror"},
        )
        request = runtime_request(spec, spec.runtimes[0])
        assert request.python_downloads_json_url == os.fspath(tmp_path / "project" / "pythons.json")
        assert request.python_install_mirror == (tmp_path / "project" / "mirror").as_uri()
        assert request.search_path == (tmp_path / "from-spec",)
        assert request.cache_dir == tmp_path / "cache"
        assert not request.offline

        patch.setenv("UV_PYTHON_DOWNLOADS_JSON_URL", "https://example.invalid/pythons.json")
        patch.setenv("UV_PYTHON_INSTALL_MIRROR", os.fspath(mirror_dir))
        patch.setenv("UV_OFFLINE", "true")
        patch.setenv(
            "ENVSTACKS_PYTHON_SEARCH_PATH", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
        )
        request = runtime_request(spec, spec.runtimes[0])
    assert request.python_downloads_json_url == "https://example.invalid/pythons.json"
    assert request.python_install_mirror == mirror_dir.as_uri()
    assert request.offline
    assert request.search_path == (tmp_path / "a", tmp_path / "b", tmp_path / "from-spec")


def test_user_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG applies to Linux")
    monkeypatch.delenv("ENVSTACKS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", os.fspath(tmp_path))
    assert user_cache_dir() == tmp_path / "envstacks"
    # Unset or relative (the XDG specification says to ignore it): ~/.cache.
    monkeypatch.setenv("HOME", os.fspath(tmp_path / "home"))
    for value in ("", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert user_cache_dir() == tmp_path / "home" / ".cache" / "envstacks"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "envstacks"


def test_cache_dir_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", os.fspath(tmp_path / "xdg"))
    monkeypatch.setenv("ENVSTACKS_CACHE_DIR", os.fspath(tmp_path / "mine"))
    assert user_cache_dir() == tmp_path / "mine"


@pytest.mark.parametrize(
    ("text", "version", "releaselevel", "matches"),
    [
        ("3.12", (3, 12, 4), "final", True),
        ("3.12", (3, 12, 0), "candidate", True),
        ("3.12", (3, 13, 0), "final", False),
        ("3.12.4", (3, 12, 4), "final", True),
        ("3.12.4", (3, 12, 4), "candidate", False),
        ("3.12.4", (3, 12, 5), "final", False),
    ],
)
def test_version_request(
    tmp_path: Path, text: str, version: tuple[int, int, int], releaselevel: str, matches: bool
) -> None:
    request = VersionRequest.parse(text, layer="cpython-x")
    assert str(request) == text
    assert request.feature == "3.12"
    assert request.exact == (text.count(".") == 2)
    info = _info(tmp_path, version=version, releaselevel=releaselevel)
    assert request.matches(info) is matches


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reachability_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert reachability_problem("file:///srv/pythons.json") is None
    assert reachability_problem("/srv/pythons.json") is None
    port = _closed_port()
    problem = reachability_problem(f"http://127.0.0.1:{port}/x.tar.gz")
    assert problem is not None and f"cannot reach 127.0.0.1:{port}" in problem
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert reachability_problem(f"http://127.0.0.1:{server.getsockname()[1]}/x") is None
        # Through a proxy, the proxy is what must answer.
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("no_proxy", "")
        problem = reachability_problem("https://downloads.example.invalid/x.tar.gz")
        assert problem is not None and f"127.0.0.1:{port}" in problem
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert reachability_problem("https://downloads.example.invalid/x.tar.gz") is None
