"""The end-of-verb line: one phrase per step that ran, in words a person reads at a glance."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from envstacks.frontends.verb_summary import deploy_summary, next_command, stack_summary


def _published(
    statuses: tuple[str, ...], *, dry_run: bool = False, output_dir: Path | None = None
) -> NS:
    return NS(
        layers=tuple(NS(status=status) for status in statuses),
        dry_run=dry_run,
        output_dir=output_dir or Path.cwd() / "dist" / "venvstacks",
    )


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
                published=_published(("published",) * 3),
            ),
            "done in 12.3 s: 2 layers locked, 1 unchanged; 3 layers built; "
            "3 archives written in dist/venvstacks",
        ),
        (
            _result(
                locked=(NS(changed=False),) * 3,
                built=(NS(built=False),) * 3,
                published=_published(("unchanged",) * 3),
            ),
            "done in 12.3 s: 3 locks unchanged; 3 layers up to date; "
            "3 archives unchanged in dist/venvstacks",
        ),
        (
            _result(published=_published(("would publish", "unchanged"), dry_run=True)),
            "done in 12.3 s: 1 archive would be written, 1 unchanged",
        ),
        (
            _result(
                published=_published(("unchanged",), output_dir=Path("/srv/out")),
                pushed=NS(reference="oci://registry.example/team/stack:1"),
            ),
            "done in 12.3 s: 1 archive unchanged in /srv/out; "
            "pushed to oci://registry.example/team/stack:1",
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


@pytest.mark.parametrize(
    ("verb", "result", "line"),
    [
        ("lock", _result(locked=(NS(changed=False),)), "envstacks build --include 'app-*'"),
        ("build", _result(published=_published(("would publish",), dry_run=True)),
         "envstacks publish --include 'app-*'"),
        ("publish", _result(published=_published(("would publish",), dry_run=True)),
         "envstacks publish --include 'app-*'"),
        ("publish", _result(published=_published(("published",))),
         "envstacks deploy dist/venvstacks --target DIR, "
         "or envstacks push dist/venvstacks --to oci://HOST/REPO:TAG"),
        ("build", _result(
            published=_published(("published",)), pushed=NS(reference="oci://reg.example/s:1")
        ), "envstacks deploy oci://reg.example/s:1 --target DIR"),
        ("publish", _result(published=_published(("unchanged",), dry_run=True)),
         "envstacks deploy dist/venvstacks --target DIR, "
         "or envstacks push dist/venvstacks --to oci://HOST/REPO:TAG"),
        ("local-export", _result(exported=(NS(exported=True),)), None),
    ],
)  # fmt: skip
def test_next_command_keeps_the_selection(verb: str, result: NS, line: str | None) -> None:
    assert next_command(verb, result, include=["app-*"]) == line  # type: ignore[arg-type]
