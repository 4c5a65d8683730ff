"""The end-of-verb line: one phrase per step that ran, in words a person reads at a glance."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from envstacks.frontends.verb_summary import deploy_summary, stack_summary


def _result(**steps: object) -> NS:
    empty = {"locked": (), "built": (), "published": None, "pushed": None, "exported": ()}
    return NS(**{**empty, **steps})


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (
            _result(
                locked=(NS(changed=True), NS(changed=True), NS(changed=False)),
                built=(NS(built=True),) * 3,
                published=NS(layers=(NS(status="published"),) * 3),
            ),
            "done in 12.3 s: 2 layers locked, 1 unchanged; 3 layers built; 3 archives written",
        ),
        (
            _result(
                locked=(NS(changed=False),) * 3,
                built=(NS(built=False),) * 3,
                published=NS(layers=(NS(status="unchanged"),) * 3),
            ),
            "done in 12.3 s: 3 locks unchanged; 3 layers up to date; 3 archives unchanged",
        ),
        (
            _result(published=NS(layers=(NS(status="would publish"), NS(status="unchanged")))),
            "done in 12.3 s: 1 archive would be written, 1 unchanged",
        ),
        (
            _result(
                published=NS(layers=(NS(status="unchanged"),)),
                pushed=NS(reference="oci://registry.example/team/stack:1"),
            ),
            "done in 12.3 s: 1 archive unchanged; pushed to oci://registry.example/team/stack:1",
        ),
        (
            _result(exported=(NS(exported=True), NS(exported=False))),
            "done in 12.3 s: 1 layer exported, 1 up to date",
        ),
        (_result(), "done in 12.3 s: nothing to do"),
    ],
)
def test_stack_summary(result: NS, line: str) -> None:
    assert stack_summary(result, 12.34) == line  # type: ignore[arg-type]


def test_deploy_summary_counts_refusals() -> None:
    result = NS(installed=("a",), reused=("b", "c"), refused=(NS(),))
    assert (
        deploy_summary(result, 1.0) == "done in 1.0 s: 1 layer installed, 2 up to date; 1 refused"
    )  # type: ignore[arg-type]
