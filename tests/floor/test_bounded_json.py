"""The bounded JSON reader: size and depth refused before parsing, with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envstacks.floor import bounded_json, folderlock
from envstacks.floor.errors import DeployError, JSONDocumentError, SettingError
from envstacks.floor.report import RecordingReporter


@pytest.mark.parametrize(
    "document",
    [
        {"a": [[["x"]]], "b": "[[[[{{{{" * 50, "c": '\\"[', "d": "\u00e9\\\\"},
        [[[[[[[[[[1]]]]]]]]]],
        {"entries": [["lib/a.py", "f", 420, 1, "0" * 64]] * 1000},
        "",
        [],
    ],
)
def test_documents_within_the_bounds_read_as_json_loads_reads_them(document) -> None:
    data = json.dumps(document).encode()
    assert bounded_json.loads(data, where="x") == json.loads(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 400 + b"]" * 400, "nested more than 64 levels deep"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nested more than 64 levels deep"),
        (b"[" * 900, "brackets do not match"),
        (b'{"a": [1, 2}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b" " * 2000, "larger than the 1000 bytes accepted"),
    ],
    ids=["deep", "deep-objects", "unbalanced", "malformed", "not-utf8", "large"],
)
def test_hostile_documents_are_refused_naming_the_place_and_the_fix(data, message) -> None:
    with pytest.raises(DeployError) as caught:
        bounded_json.loads(data, where="manifest m.json", max_bytes=1000, error=DeployError)
    assert caught.value.message.startswith("manifest m.json: ")
    assert message in caught.value.message
    assert caught.value.hint


def test_a_deep_document_never_reaches_the_recursive_parser() -> None:
    with pytest.raises(JSONDocumentError, match="nested more than 64 levels deep"):
        bounded_json.loads(b"[" * 1_000_000 + b"]" * 1_000_000, where="x")


def test_exactly_the_depth_bound_is_accepted() -> None:
    assert bounded_json.loads(b"[" * 64 + b"]" * 64, where="x") is not None
    with pytest.raises(JSONDocumentError):
        bounded_json.loads(b"[" * 65 + b"]" * 65, where="x")


def test_a_file_is_never_read_past_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"1," * 1_000_000 + b"1]")
    with pytest.raises(JSONDocumentError, match=r"big\.json: larger than the 1000 bytes"):
        bounded_json.read_file(path, max_bytes=1000)
    with pytest.raises(FileNotFoundError):
        bounded_json.read_file(tmp_path / "missing.json")


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "1e999x"])
def test_a_lock_timeout_that_is_no_number_of_seconds_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ENVSTACKS_LOCK_TIMEOUT", value)
    reporter = RecordingReporter()
    # It used to be ignored silently (the run waited forever behind a busy folder).
    with (
        pytest.raises(SettingError) as caught,
        folderlock.hold(tmp_path, verb="x", reporter=reporter),
    ):
        pass
    assert f"ENVSTACKS_LOCK_TIMEOUT={value!r}" in caught.value.message
    assert "unset it" in (caught.value.hint or "")


def test_a_lock_timeout_of_inf_waits_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVSTACKS_LOCK_TIMEOUT", "inf")
    assert folderlock.lock_timeout() is None
    monkeypatch.setenv("ENVSTACKS_LOCK_TIMEOUT", "2.5")
    assert folderlock.lock_timeout() == 2.5
