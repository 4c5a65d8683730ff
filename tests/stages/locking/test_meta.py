"""Lock metadata files and lock times (exclude-newer as a proper datetime, reference §3.5.6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import LockError
from envstacks.stages.locking import lock_meta as meta

T0 = datetime(2025, 8, 27, tzinfo=UTC)


def test_exclude_newer_env_wins_over_settings(stacks: Any, tmp_path: Path) -> None:
    spec = stacks.stack(tmp_path, [], uv_settings={"exclude-newer": "2025-08-27T00:00:00Z"})
    assert meta.exclude_newer(spec, {}) == T0
    assert meta.exclude_newer(spec, {"UV_EXCLUDE_NEWER": "2024-01-02T03:04:05Z"}) == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert meta.exclude_newer(stacks.stack(tmp_path, []), {}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-08-27T00:00:00+00:00", T0),
        ("2025-08-27T02:00:00+02:00", T0),
        (T0, T0),
        ("2025-08-27", datetime(2025, 8, 27).astimezone()),
        ("1 week", None),
        ("P1W", None),
    ],
)
def test_exclude_newer_forms(stacks: Any, tmp_path: Path, value: Any, expected: Any) -> None:
    spec = stacks.stack(tmp_path, [], uv_settings={"exclude-newer": value})
    assert meta.exclude_newer(spec, {}) == expected


def test_source_date_epoch_replaces_now_only_without_a_cutoff() -> None:
    epoch = meta.source_date_epoch({"SOURCE_DATE_EPOCH": "1756252800"})
    assert epoch == T0
    assert (
        meta.source_date_epoch({}) is None
        and meta.source_date_epoch({"SOURCE_DATE_EPOCH": ""}) is None
    )
    now = T0 + timedelta(days=30)
    assert meta.lock_time(now, None, epoch) == T0
    # An absolute exclude-newer already fixes the time; SOURCE_DATE_EPOCH does not move it.
    assert meta.lock_time(now, T0 + timedelta(days=1), epoch) == T0 + timedelta(days=1)


def test_a_bad_source_date_epoch_is_an_error_with_the_fix() -> None:
    with pytest.raises(LockError, match=r"SOURCE_DATE_EPOCH='yesterday' is not a number") as info:
        meta.source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})
    assert info.value.hint is not None and "git log -1 --format=%ct" in info.value.hint


def test_lock_time_is_clamped() -> None:
    assert meta.lock_time(T0 + timedelta(days=3), T0) == T0
    assert meta.lock_time(T0 - timedelta(days=3), T0) == T0 - timedelta(days=3)
    assert meta.lock_time(T0, None) == T0
    assert meta.format_time(datetime(2025, 8, 27, 2, tzinfo=UTC).astimezone()) == (
        "2025-08-27T02:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("locked", "cutoff", "stale"),
    [
        (T0, None, False),
        (T0, T0, False),  # the usual case: lock time clamped to exclude-newer
        (T0 + timedelta(seconds=1), T0, True),  # exclude-newer moved back
        (T0 - timedelta(days=1), T0, True),  # exclude-newer moved forward (and has passed)
        (T0 - timedelta(days=1), datetime.now(UTC) + timedelta(days=30), False),  # future cut-off
    ],
)
def test_time_problem(locked: datetime, cutoff: datetime | None, stale: bool) -> None:
    now = datetime.now(UTC)
    assert (meta.time_problem(locked, cutoff, now) is not None) is stale


def test_metadata_round_trip_in_venvstacks_format(tmp_path: Path) -> None:
    path = tmp_path / "pylock.x.meta.json"
    written = meta.LockMeta(
        lock_input_hash="sha256:a",
        requirements_hash="sha256:b",
        other_inputs_hash="sha256:c",
        version_inputs_hash="sha256:d",
        lock_version=3,
        locked_at="2025-08-27T00:00:00+00:00",
        platforms=("linux_x86_64",),
        uv_inputs_hash="sha256:e",
    )
    assert meta.write_meta(path, written) is True
    assert meta.write_meta(path, written) is False
    text = path.read_text()
    assert text.endswith("}\n") and "\r" not in text
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["lock_version"] == 3 and data["envstacks"]["platforms"] == ["linux_x86_64"]
    assert meta.read_meta(path) == written
    assert meta.read_meta(tmp_path / "missing.json") is None


def test_venvstacks_metadata_has_no_extras(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({
        "lock_input_hash": "sha256:a", "requirements_hash": "sha256:b",
        "other_inputs_hash": "sha256:c", "version_inputs_hash": "sha256:d",
        "lock_version": 5, "locked_at": "2025-08-27T00:00:00+00:00",
    }))  # fmt: skip
    read = meta.read_meta(path)
    assert read is not None and read.platforms is None and read.uv_inputs_hash is None
    assert read.locked_time == T0


def test_broken_metadata_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"lock_input_hash": "sha256:a"}')
    with pytest.raises(LockError, match=r"m\.json: invalid lock metadata"):
        meta.read_meta(path)
    path.write_text("{not json")
    with pytest.raises(LockError, match=r"m\.json: unreadable lock metadata"):
        meta.read_meta(path)
