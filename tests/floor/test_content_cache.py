"""The content cache: an entry pruned between finding and linking it is a miss, not an error."""

from __future__ import annotations

from pathlib import Path

from envstacks.floor.content_cache import ContentCache


def test_an_entry_pruned_after_it_was_found_is_a_miss(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=1 << 20)
    source = tmp_path / "made.bin"
    source.write_bytes(b"an archive")
    cache.store("k" * 64, source)
    entry = cache.find("k" * 64)
    assert entry is not None
    assert cache.link_to(entry, tmp_path / "first")
    assert (tmp_path / "first").read_bytes() == b"an archive"
    entry.unlink()  # another run prunes it now
    assert not cache.link_to(entry, tmp_path / "second")
    assert not (tmp_path / "second").exists()
