"""Layer selection: --include pulls in dependencies and derived layers (reference §2.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.floor.errors import SelectionError
from envstacks.orchestrator.plan import Op, Selection, Step, make_plan
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    FrameworkSpec,
    RuntimeSpec,
    Settings,
    StackSpec,
)

LINUX = ("linux_x86_64",)
BOTH = ("linux_x86_64", "win_amd64")


def _stack() -> StackSpec:
    """Venvstacks' minimal_project graph, built directly from the model."""
    rt = RuntimeSpec(
        name="cpython-3.11",
        toml_path="runtimes[0]",
        python_implementation="cpython@3.11.7",
        python_version="3.11.7",
        platforms=BOTH,
    )

    def fw(name: str, lin: tuple[str, ...], platforms: tuple[str, ...] = BOTH) -> FrameworkSpec:
        return FrameworkSpec(
            name=name,
            toml_path=f"frameworks[{name}]",
            runtime="cpython-3.11",
            linearized=tuple(f"framework-{x}" for x in lin),
            platforms=platforms,
        )

    frameworks = (
        fw("layerA", ()),
        fw("layerB", ("layerA",)),
        fw("layerC", ("layerA",)),
        fw("layerD", ("layerB", "layerC", "layerA")),
        fw("windows-only", (), ("win_amd64",)),
    )
    apps = (
        ApplicationSpec(
            name="empty",
            toml_path="applications[0]",
            runtime="cpython-3.11",
            linearized=(
                "framework-layerD",
                "framework-layerB",
                "framework-layerC",
                "framework-layerA",
            ),
            platforms=BOTH,
            run_module="x",
        ),
        ApplicationSpec(
            name="no-framework",
            toml_path="applications[1]",
            runtime="cpython-3.11",
            platforms=LINUX,
            run_module="y",
        ),
        ApplicationSpec(
            name="disabled",
            toml_path="applications[2]",
            runtime="cpython-3.11",
            platforms=(),
            run_module="z",
        ),
    )
    settings = Settings(
        build_dir=Path("/b"),
        output_dir=Path("/o"),
        export_dir=Path("/e"),
        requirements_dir=Path("/r"),
    )
    return StackSpec(
        spec_path=Path("/s/venvstacks.toml"),
        source_format="venvstacks",
        settings=settings,
        runtimes=(rt,),
        frameworks=frameworks,
        applications=apps,
    )


def _ops(plan, name):  # type: ignore[no-untyped-def]
    ops = plan.get(name)
    assert ops is not None, f"{name} not planned: {plan.names}"
    return ops


def test_everything_enabled_without_include() -> None:
    plan = make_plan(
        _stack(), Selection(lock=Op.RUN, build=Op.RUN, publish=True, platform="linux_x86_64")
    )
    assert "app-disabled" not in plan.names
    assert plan.names[0] == "cpython-3.11"
    assert _ops(plan, "app-empty").labels == ("lock", "build", "publish")
    # locks are cross-platform; builds are not
    assert _ops(plan, "framework-windows-only").labels == ("lock",)


def test_include_adds_dependencies_and_derived_like_venvstacks() -> None:
    # venvstacks: build --show-only --include '*-layerC' on the minimal project prints
    # cpython (lock-if-needed, build-if-needed), layerA (same) and layerC (build, publish).
    plan = make_plan(
        _stack(),
        Selection(
            lock=Op.SKIP, build=Op.RUN, publish=True, include=["*-layerC"], platform="linux_x86_64"
        ),
    )
    assert _ops(plan, "cpython-3.11").labels == ("lock-if-needed", "build-if-needed")
    assert _ops(plan, "framework-layerA").labels == ("lock-if-needed", "build-if-needed")
    assert _ops(plan, "framework-layerC").labels == ("build", "publish")
    # Without a full lock or --*-derived, derived layers are not part of the selection.
    assert plan.names == ("cpython-3.11", "framework-layerA", "framework-layerC")
    derived = make_plan(
        _stack(),
        Selection(
            build=Op.RUN,
            publish=True,
            include=["*-layerC"],
            build_derived=True,
            platform="linux_x86_64",
        ),
    )
    assert _ops(derived, "framework-layerD").labels == ("build",)  # published: --publish-derived


def test_lock_mode_relocks_derived_layers() -> None:
    plan = make_plan(
        _stack(), Selection(lock=Op.RUN, include=["framework-layerA"], platform="linux_x86_64")
    )
    assert _ops(plan, "cpython-3.11").lock is Op.IF_NEEDED
    for name in (
        "framework-layerA",
        "framework-layerB",
        "framework-layerC",
        "framework-layerD",
        "app-empty",
    ):
        assert _ops(plan, name).lock is Op.RUN, name
    assert "app-no-framework" not in plan.names


def test_a_layer_both_dependency_and_derived_with_other_operations_is_refused() -> None:
    # layerB and layerC are derived from layerA and dependencies of layerD: --build-derived
    # builds them, as dependencies they are only built if needed. venvstacks refuses this.
    with pytest.raises(SelectionError) as info:
        make_plan(
            _stack(),
            Selection(
                build=Op.RUN,
                include=["framework-layerA", "framework-layerD"],
                build_derived=True,
                platform="linux_x86_64",
            ),
        )
    assert info.value.message.startswith(
        "Conflicting build instructions for ['framework-layerB', 'framework-layerC']: each is "
    )
    assert info.value.hint is not None and "--build-dependencies" in info.value.hint
    # A full lock relocks derived layers; dependencies too only with --lock-dependencies.
    with pytest.raises(SelectionError, match=r"^Conflicting lock instructions"):
        make_plan(
            _stack(), Selection(lock=Op.RUN, include=["framework-layerA", "framework-layerD"])
        )
    agreed = make_plan(
        _stack(),
        Selection(
            lock=Op.RUN,
            include=["framework-layerA", "framework-layerD"],
            lock_dependencies=True,
            platform="linux_x86_64",
        ),
    )
    assert _ops(agreed, "framework-layerB").labels == ("lock", "build-if-needed")
    # Without derived operations, the same selection is no conflict.
    plan = make_plan(
        _stack(),
        Selection(
            build=Op.RUN, include=["framework-layerA", "framework-layerD"], platform="linux_x86_64"
        ),
    )
    assert _ops(plan, "framework-layerB").build is Op.IF_NEEDED


def test_steps_decide_what_runs_whatever_the_labels() -> None:
    # venvstacks' publish labels the dependencies "lock-if-needed, build-if-needed", and
    # neither locks nor builds them.
    plan = make_plan(
        _stack(),
        Selection(publish=True, include=["framework-layerC"], steps=frozenset()),
    )
    assert _ops(plan, "framework-layerA").labels == ("lock-if-needed", "build-if-needed")
    assert plan.to_lock() == () and plan.to_build() == ()
    assert [ops.name for ops in plan.to_publish()] == ["framework-layerC"]
    locking = make_plan(_stack(), Selection(lock=Op.RUN, steps=frozenset({Step.LOCK})))
    assert locking.to_lock() and locking.to_build() == ()


def test_unmatched_pattern_is_an_error_unless_allowed() -> None:
    with pytest.raises(SelectionError, match=r"No matching layers found for: 'app-nope'") as info:
        make_plan(_stack(), Selection(lock=Op.RUN, include=["app-nope"]))
    assert info.value.hint is not None and "--allow-missing" in info.value.hint
    plan = make_plan(
        _stack(), Selection(lock=Op.RUN, include=["app-nope", "app-empty"], allow_missing=True)
    )
    assert plan.unmatched == ("app-nope",)
    assert "app-empty" in plan.names


def test_disabled_layers_never_match() -> None:
    with pytest.raises(SelectionError):
        make_plan(_stack(), Selection(lock=Op.RUN, include=["app-disabled"]))


def test_reset_lock_labels_the_matching_layers_it_resets_when_locked() -> None:
    plan = make_plan(
        _stack(),
        Selection(lock=Op.IF_NEEDED, reset_lock=["framework-layer[AB]"], platform="linux_x86_64"),
    )
    assert _ops(plan, "framework-layerA").labels == ("reset-lock", "lock-if-needed")
    assert not _ops(plan, "framework-layerC").reset_lock
    # As venvstacks shows it: the request is labelled, though a build without a lock step
    # resets nothing (the lock step only resets the layers it locks).
    plan = make_plan(
        _stack(), Selection(build=Op.RUN, reset_lock=["framework-layerA"], platform="linux_x86_64")
    )
    assert _ops(plan, "framework-layerA").labels == ("reset-lock", "build")
    assert plan.to_lock() == ()


def test_a_layer_name_gets_the_build_name_it_meant() -> None:
    """``--include empty`` names an application by its ``name``: say which build name matches."""
    with pytest.raises(SelectionError) as info:
        make_plan(_stack(), Selection(lock=Op.RUN, include=["empty"]))
    assert info.value.message == (
        "No matching layers found for: 'empty' (that is the name of application 'empty'; "
        "patterns match build names: use 'app-empty')"
    )


def test_a_typo_gets_the_closest_build_name() -> None:
    with pytest.raises(SelectionError) as info:
        make_plan(_stack(), Selection(lock=Op.RUN, include=["framework-layrC", "zzz"]))
    assert info.value.message == (
        "No matching layers found for: 'framework-layrC' (did you mean 'framework-layerC'?), 'zzz'"
    )
