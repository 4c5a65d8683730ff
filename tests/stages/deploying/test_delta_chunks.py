"""Chunk-level deltas: a large changed file shipped as the chunks its base version lacks.

Two releases of a "shared library" are made here (random bytes, the second with regions
rewritten, one insertion shifting everything after it, one removal), published with
publish's own code, deployed for real: the delta brings a small part of the file, deploy
rebuilds it from the installed base, and every doubt (a modified base, damaged literal bytes,
a hostile recipe) is refused with the full archive as the way out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import DeployError, SettingError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published.archive_formats import get_format
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_patch import FilePatch, parse_patch
from envstacks.published.delta_recipe import RECIPE_MEMBER, DeltaRecipe
from envstacks.published.file_index import FileIndex, IndexEntry
from envstacks.stages.deploying.delta_apply import DeltaMismatch, rebuild_patched
from envstacks.stages.packing.delta_writer import chunk_patch
from kits.layers import FRAMEWORK, Layer, Publisher, default_layers

from .test_delta_deploy import _delta_of, _methods, _tree

LIBRARY = "lib/python3.12/site-packages/fw/libbig.so"
SIZE = 3 << 20


def _releases() -> tuple[bytes, bytes]:
    """Two versions of a 3 MiB library sharing most of their chunks (seeded: reproducible)."""
    rng = random.Random(25)
    old = bytearray(rng.randbytes(SIZE))
    new = bytearray(old)
    for start in (200_000, 1_500_000, 2_600_000):  # rewritten regions
        new[start : start + 20_000] = rng.randbytes(20_000)
    new[900_000:900_000] = rng.randbytes(5_000)  # an insertion shifts what follows
    del new[2_000_000:2_010_000]
    return bytes(old), bytes(new)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _version(library: bytes) -> list[Layer]:
    """The framework with ``library``, and an unchanged file as large (what a delta skips)."""
    layers = default_layers()
    unchanged = random.Random(1).randbytes(SIZE)
    layers[1].files = {LIBRARY: library, f"{LIBRARY}.unchanged": unchanged}
    return layers


def _patch(tmp_path: Path, old: bytes, new: bytes) -> tuple[FilePatch | None, Path]:
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    literal = tmp_path / "literal"
    patch = chunk_patch(
        tmp_path / "new",
        tmp_path / "old",
        literal=literal,
        path=LIBRARY,
        base_path=LIBRARY,
        base_sha256=_sha(old),
        sha256=_sha(new),
    )
    return patch, literal


def test_a_patch_copies_the_shared_chunks_and_rebuilds_the_new_file(tmp_path: Path) -> None:
    old, new = _releases()
    patch, literal = _patch(tmp_path, old, new)
    assert patch is not None
    assert patch.size == len(new)
    # About 65 KB changed: the chunks around the changes are brought, the rest copied.
    assert patch.literal_size < len(new) // 10
    assert literal.stat().st_size == patch.literal_size
    assert sum(piece.length for piece in patch.pieces) == len(new)
    # Reproducible: the same inputs give the same patch and literal bytes.
    (tmp_path / "again").mkdir()
    again, literal_again = _patch(tmp_path / "again", old, new)
    assert again == patch
    assert literal_again.read_bytes() == literal.read_bytes()
    rebuild_patched(patch, tmp_path / "old", literal, install_target="fw")
    assert literal.read_bytes() == new


def test_a_patch_that_does_not_pay_or_has_the_wrong_base_is_not_made(tmp_path: Path) -> None:
    old, new = _releases()
    unrelated = random.Random(7).randbytes(SIZE)
    assert _patch(tmp_path, unrelated, new)[0] is None  # nothing shared: the file goes whole
    (tmp_path / "old").write_bytes(old)
    wrong_base = chunk_patch(
        tmp_path / "new",
        tmp_path / "old",
        literal=tmp_path / "literal",
        path=LIBRARY,
        base_path=LIBRARY,
        base_sha256=_sha(b"another file"),
        sha256=_sha(new),
    )
    assert wrong_base is None


def test_rebuilding_refuses_a_modified_base_and_damaged_literal_bytes(tmp_path: Path) -> None:
    old, new = _releases()
    patch, literal = _patch(tmp_path, old, new)
    assert patch is not None
    kept = literal.read_bytes()
    modified = bytearray(old)
    modified[1000] ^= 0xFF
    (tmp_path / "old").write_bytes(bytes(modified))
    with pytest.raises(DeltaMismatch, match=r"not the file the delta was made from.*full layer"):
        rebuild_patched(patch, tmp_path / "old", literal, install_target="fw")
    (tmp_path / "old").write_bytes(old)
    damaged = bytearray(kept)
    damaged[len(damaged) // 2] ^= 0xFF
    literal.write_bytes(bytes(damaged))
    with pytest.raises(DeltaMismatch, match="is not the one the recipe names"):
        rebuild_patched(patch, tmp_path / "old", literal, install_target="fw")
    literal.write_bytes(kept[:-1])
    with pytest.raises(DeltaMismatch, match="other bytes than its recipe"):
        rebuild_patched(patch, tmp_path / "old", literal, install_target="fw")
    # A copy of the wrong range (inside the base file): the whole file's sha256 tells.
    literal.write_bytes(kept)
    first = next(i for i, piece in enumerate(patch.pieces) if piece.base_offset is not None)
    pieces = list(patch.pieces)
    pieces[first] = dataclasses.replace(
        pieces[first], base_offset=(pieces[first].base_offset or 0) + 1
    )
    shifted = dataclasses.replace(patch, pieces=tuple(pieces))
    with pytest.raises(DeltaMismatch, match="rebuilt, it is not the published file"):
        rebuild_patched(shifted, tmp_path / "old", literal, install_target="fw")
    assert not list(tmp_path.glob("*.envstacks-patched"))  # nothing half-written is left


@pytest.fixture
def big_update(tmp_path: Path, publish_layers_to: Publisher, pm: Any) -> tuple[Path, Path]:
    """Release one deployed into ``target``; release two published with deltas from it."""
    old, new = _releases()
    one = publish_layers_to(tmp_path / "one", _version(old), indexes=True)
    target = tmp_path / "target"
    deploy(one, target, pm=pm, reporter=RecordingReporter())
    two = publish_layers_to(tmp_path / "two", _version(new), delta_from=one)
    return two, target


def _recipe_of(two: Path, pm: Any) -> dict[str, Any]:
    archive = two / _delta_of(two, FRAMEWORK)["archive_name"]
    with archive.open("rb") as raw, get_format(pm, "tar.zst").open_reader(raw) as reader:
        for member in reader.members():
            if member.name == f"{FRAMEWORK}/{RECIPE_MEMBER}":
                sink = _Sink()
                reader.extract(member, sink)  # type: ignore[arg-type]
                return json.loads(sink.data)  # type: ignore[no-any-return]
    raise AssertionError("no recipe")


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def test_an_update_of_a_large_file_ships_its_new_chunks_and_deploys_from_them(
    tmp_path: Path, big_update: tuple[Path, Path], pm: Any
) -> None:
    two, target = big_update
    delta = _delta_of(two, FRAMEWORK)
    recipe = _recipe_of(two, pm)
    assert recipe["version"] == 2
    (patched,) = recipe["patched"]
    assert patched["path"] == LIBRARY
    assert LIBRARY not in recipe["payload"]
    # The 3 MiB of random bytes (incompressible) cost the delta about a tenth of the file.
    assert delta["archive_size"] < SIZE // 8
    result = deploy(two, target, pm=pm, reporter=RecordingReporter())
    assert _methods(result)[FRAMEWORK] == "delta"
    fresh = tmp_path / "fresh"
    deploy(two, fresh, pm=pm, reporter=RecordingReporter())
    assert _tree(target / FRAMEWORK) == _tree(fresh / FRAMEWORK)
    assert (target / FRAMEWORK / LIBRARY).read_bytes() == _releases()[1]


def test_a_modified_base_library_makes_deploy_use_the_full_archive(
    big_update: tuple[Path, Path], pm: Any
) -> None:
    two, target = big_update
    library = target / FRAMEWORK / LIBRARY
    data = bytearray(library.read_bytes())
    data[0] ^= 0xFF  # same size, other content: only its hash tells
    library.write_bytes(bytes(data))
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result)[FRAMEWORK] == "full"
    warnings = [m for level, m in reporter.messages if level == "warning"]
    assert any("not the file the delta was made from" in m for m in warnings), warnings
    assert library.read_bytes() == _releases()[1]


def test_an_unreadable_earlier_archive_brings_large_files_whole(
    tmp_path: Path, publish_layers_to: Publisher, pm: Any
) -> None:
    """The earlier version's index is fine but its archive is damaged: no patches, no failure."""
    old, new = _releases()
    one = publish_layers_to(tmp_path / "one", _version(old), indexes=True)
    archive = one / f"{FRAMEWORK}.tar.zst"
    data = bytearray(archive.read_bytes())
    data[64:] = bytes(len(data) - 64)  # all but its first bytes zeroed
    archive.write_bytes(bytes(data))
    two = publish_layers_to(tmp_path / "two", _version(new), delta_from=one)
    recipe = _recipe_of(two, pm)
    assert recipe["version"] == 1 and LIBRARY in recipe["payload"]
    fresh = tmp_path / "fresh"
    deploy(two, fresh, pm=pm, reporter=RecordingReporter())
    assert (fresh / FRAMEWORK / LIBRARY).read_bytes() == new


SHA = "a" * 64
BASE_FILES = {"lib/old.so": (100_000, SHA)}


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "path": "lib/new.so",
        "base": "lib/old.so",
        "base_sha256": SHA,
        "sha256": SHA,
        "size": 50_000,
        "pieces": [["c", 0, 40_000, SHA], ["l", 10_000, SHA]],
    }
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"path": "../../outside.so"}, "plain relative paths"),
        ({"base": "/etc/passwd"}, "plain relative paths"),
        ({"base": "lib/other.so"}, "is not a file of that sha256 in the base layer"),
        ({"base_sha256": "b" * 64}, "is not a file of that sha256 in the base layer"),
        ({"pieces": [["c", 90_000, 40_000, SHA], ["l", 10_000, SHA]]}, "past its base's"),
        ({"pieces": [["c", 0, 40_000, SHA], ["l", 20_000, SHA]]}, "run past its size"),
        ({"pieces": [["c", 0, 40_000, SHA]]}, "make 40000 bytes, not its size"),
        ({"pieces": [["c", 0, 0, SHA], ["c", 0, 50_000, SHA]]}, "malformed piece"),
        ({"pieces": [["c", -5, 50_000, SHA]]}, "malformed piece"),
        ({"pieces": [["x", 50_000, SHA]]}, "malformed piece"),
        ({"pieces": [["l", 1, SHA]] * 50_000}, "at most 14"),
        ({"size": True}, "malformed sha256 or size"),
        ({"extra": 1}, "not an object with the fields"),
    ],
)
def test_a_hostile_patch_is_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(DeployError, match=why):
        parse_patch(_item(**changes), base_files=BASE_FILES, where="d", error=DeployError, hint="")


def _base() -> FileIndex:
    return FileIndex(
        root="fw",
        entries=(
            IndexEntry(path="lib", kind=MemberKind.DIR, mode=0o755),
            IndexEntry(
                path="lib/old.so", kind=MemberKind.FILE, mode=0o644, size=100_000, sha256=SHA
            ),
        ),
    )


def _document(version: int, patched: list[dict[str, Any]], size: int = 50_000) -> bytes:
    base = _base()
    changed = [["lib/new.so", "f", 0o644, size, SHA]]
    document = {
        "base_tree_sha256": base.tree_sha256,
        "changed": changed,
        "format": "envstacks-delta",
        "moved": [],
        "patched": patched,
        "payload": [],
        "remove": [],
        "root": "fw",
        "tree_sha256": SHA,
        "version": version,
    }
    return json.dumps(document, sort_keys=True).encode()


def test_recipe_versions_and_the_checks_on_patched_paths() -> None:
    base = _base()
    read = DeltaRecipe.from_bytes(_document(2, [_item()]), where="d", error=DeployError, base=base)
    assert [patch.path for patch in read.patched] == ["lib/new.so"]
    assert json.loads(read.to_bytes())["version"] == 2
    # A recipe without patches stays version 1 (what envstacks before chunk patches reads).
    plain = DeltaRecipe.from_bytes(_document(1, []), where="d", error=DeployError, base=base)
    document = json.loads(plain.to_bytes())
    assert document["version"] == 1 and "patched" not in document
    with pytest.raises(DeployError, match="version 3 is not supported"):
        DeltaRecipe.from_bytes(_document(3, []), where="d", error=DeployError, base=base)
    with pytest.raises(DeployError, match="version 1 is not supported"):
        DeltaRecipe.from_bytes(_document(1, [_item()]), where="d", error=DeployError, base=base)
    for bad in ([_item(), _item()], [_item(path="lib/elsewhere.so")]):
        with pytest.raises(DeployError, match="patched paths must be changed files"):
            DeltaRecipe.from_bytes(_document(2, bad), where="d", error=DeployError, base=base)
    with pytest.raises(DeployError, match="patched paths must be changed files"):
        DeltaRecipe.from_bytes(
            _document(2, [_item()], 60_000), where="d", error=DeployError, base=base
        )


def test_the_patch_setting_turns_patches_off_or_is_a_clear_error(
    tmp_path: Path, publish_layers_to: Publisher, pm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _releases()
    one = publish_layers_to(tmp_path / "one", _version(old), indexes=True)
    monkeypatch.setenv("ENVSTACKS_DELTA_PATCH_MIB", "0")
    two = publish_layers_to(tmp_path / "two", _version(new), delta_from=one)
    recipe = _recipe_of(two, pm)
    assert recipe["version"] == 1  # what an envstacks without chunk patches deploys
    assert LIBRARY in recipe["payload"]
    assert "patched" not in recipe
    monkeypatch.setenv("ENVSTACKS_DELTA_PATCH_MIB", "lots")
    with pytest.raises(SettingError, match=r"ENVSTACKS_DELTA_PATCH_MIB='lots'.*whole number"):
        publish_layers_to(tmp_path / "three", _version(new), delta_from=one)
