"""Compression levels: reproducible bytes at every level, any level unpacks, clear refusals."""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import pytest
import zstandard

from envstacks.floor.errors import SpecError
from envstacks.floor.report import RecordingReporter
from envstacks.published.archive_formats import (
    BUILTIN_FORMATS,
    compression_of,
    with_compression,
)
from envstacks.published.archive_tar import TarZstFormat
from envstacks.published.safe_unpack import unpack_layer
from kits.trees import LOCK_MTIME, make_tree

FORMATS = sorted(BUILTIN_FORMATS)
SETTINGS = ["fast", "default", "max", "2"]
EXPECTED = {
    ("tar.zst", "fast"): "zstd level 3",
    ("tar.zst", "default"): "zstd level 10",
    ("tar.zst", "max"): "zstd level 22, 128 MiB long window",
    ("tar.zst", "2"): "zstd level 2",
    ("tar.xz", "fast"): "xz preset 1",
    ("tar.xz", "default"): "xz preset 6",
    ("tar.xz", "max"): "xz preset 9, extreme",
    ("tar.xz", "2"): "xz preset 2",
    ("zip", "fast"): "deflate level 1",
    ("zip", "default"): "deflate level 6",
    ("zip", "max"): "deflate level 9",
    ("zip", "2"): "deflate level 2",
}


def pack(fmt_name: str, setting: str, tree: Path, archive: Path) -> bytes:
    fmt = with_compression(BUILTIN_FORMATS[fmt_name], setting, where="--compression")
    with RecordingReporter().task("x", "pack") as task:
        fmt.pack(tree, archive, root_name="framework-x@2", mtime=LOCK_MTIME, task=task)
    return archive.read_bytes()


def layer_tree(root: Path, *, reverse: bool = False) -> Path:
    """The awkward tree of kits.trees plus a module big enough for levels to differ."""
    make_tree(root, reverse=reverse)
    text = "".join(f"def f{n}(x):\n    return x * {n % 97} + {n // 7}\n" for n in range(1500))
    (root / "lib" / "python3.12" / "site-packages" / "big.py").write_text(text)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("fmt_name", FORMATS)
def test_every_level_is_reproducible_and_unpacks_as_deploy_does(
    tmp_path: Path, fmt_name: str, setting: str
) -> None:
    fmt = with_compression(BUILTIN_FORMATS[fmt_name], setting, where="--compression")
    assert compression_of(fmt) == EXPECTED[fmt_name, setting]
    one = pack(fmt_name, setting, layer_tree(tmp_path / "a" / "env"), tmp_path / "one")
    two = pack(
        fmt_name, setting, layer_tree(tmp_path / "b" / "env", reverse=True), tmp_path / "two"
    )
    assert one == two
    default = pack(fmt_name, "default", layer_tree(tmp_path / "c" / "env"), tmp_path / "default")
    assert (one == default) == (setting == "default")
    # Deploy reads every level with the format's plain reader, through the safe unpack.
    workdir = tmp_path / "deploy" / ".work"
    workdir.mkdir(parents=True)
    unpacked = unpack_layer(
        BUILTIN_FORMATS[fmt_name],
        tmp_path / "one",
        workdir,
        install_target="framework-x@2",
        archive_name=f"framework-x@2.{fmt_name}",
        target=tmp_path / "deploy",
    )
    assert files_of(unpacked) == files_of(tmp_path / "a" / "env")


def test_the_tar_stream_is_the_same_at_every_level(tmp_path: Path) -> None:
    tree = layer_tree(tmp_path / "env")
    streams = {
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress(pack("tar.zst", setting, tree, tmp_path / setting))
        for setting in ("fast", "max")
    }
    streams.add(lzma.decompress(pack("tar.xz", "max", tree, tmp_path / "xz")))
    assert len(streams) == 1


def test_max_zstd_opens_a_long_window_and_does_not_depend_on_threads(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    seed = hashlib.sha256(b"seed").digest()
    for index in range(4):
        block = b"".join(hashlib.sha256(seed + bytes([index, n % 5])).digest() for n in range(8192))
        (tree / f"file{index}.bin").write_bytes(block)
    digests = set()
    for threads in (1, 2):
        fmt = TarZstFormat(threads=threads).with_compression("max", where="x")
        archive = tmp_path / f"t{threads}.tar.zst"
        with RecordingReporter().task("x", "pack") as task:
            fmt.pack(tree, archive, root_name="x", mtime=LOCK_MTIME, task=task)
        digests.add(hashlib.sha256(archive.read_bytes()).hexdigest())
    assert len(digests) == 1
    assert zstandard.get_frame_parameters(archive.read_bytes()).window_size == 128 << 20
    plain = zstandard.get_frame_parameters(pack("tar.zst", "default", tree, tmp_path / "plain"))
    assert plain.window_size < 128 << 20


@pytest.mark.parametrize(
    ("fmt_name", "setting", "levels"),
    [
        ("tar.zst", "23", "from 1 to 22"),
        ("tar.zst", "0", "from 1 to 22"),
        ("tar.xz", "10", "from 0 to 9"),
        ("zip", "-1", "from 0 to 9"),
        ("zip", "huge", "from 0 to 9"),
    ],
)
def test_a_level_a_format_lacks_is_refused_naming_the_place(
    fmt_name: str, setting: str, levels: str
) -> None:
    with pytest.raises(SpecError) as caught:
        with_compression(BUILTIN_FORMATS[fmt_name], setting, where="--compression")
    assert str(caught.value) == (
        f"--compression: {setting!r} is not a compression of {fmt_name} "
        f"(fast, default, max, or a level {levels})"
    )


def test_a_subclass_keeps_its_name_and_its_own_default() -> None:
    class ReleaseZst(TarZstFormat):
        name = "tar.zst-19"

    release = ReleaseZst(level=19)
    assert release.with_compression("default", where="x") is release
    fast = release.with_compression("fast", where="x")
    assert (type(fast), fast.name, fast.level, release.level) == (ReleaseZst, "tar.zst-19", 3, 19)


class PlainFormat:
    """A plugin's format without levels (only what the protocol requires)."""

    name = "tar.plain"
    suffix = ".tar.plain"


def test_a_format_without_levels_takes_only_the_default() -> None:
    fmt = PlainFormat()
    assert with_compression(fmt, "default", where="x") is fmt  # type: ignore[arg-type]
    assert compression_of(fmt) == "tar.plain's own"  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"tool.venvstacks.compression: archive format 'tar.plain'"):
        with_compression(fmt, "max", where="tool.venvstacks.compression")  # type: ignore[arg-type]
