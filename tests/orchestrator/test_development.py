"""What Hatch's environment hashes: its layers' requirements and locks, chosen variants included."""

from __future__ import annotations

from pathlib import Path

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator import development
from envstacks.orchestrator.session import Session
from envstacks.stages.stackspec import load, stack_paths
from kits.variant_stack import write_project


def test_a_change_of_the_chosen_variants_lock_changes_the_fingerprint(tmp_path: Path) -> None:
    session = Session(load(write_project(tmp_path / "stack")), reporter=RecordingReporter())
    spec = session.spec
    app = spec.applications[0]
    chosen = development.chosen_variants(spec, app, "gpu", field="variant")
    assert chosen  # {fallback: the gpu variant's layer}
    (variant_name,) = chosen.values()
    lock = stack_paths.pylock_path(spec, spec.layer(variant_name))
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("first\n", encoding="utf-8")
    before = development.fingerprint(session, app, extra=[], variants=chosen)
    fallback_only = development.fingerprint(session, app, extra=[])
    lock.write_text("second\n", encoding="utf-8")
    assert development.fingerprint(session, app, extra=[], variants=chosen) != before
    # Without the variant (the fallback's environment), that lock is not part of it.
    assert development.fingerprint(session, app, extra=[]) == fallback_only
