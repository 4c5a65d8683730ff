"""Choose one variant per framework on this machine, deploy only it, and link the framework's slot.

For each framework with variants (the manifest's ``variants`` table), in this order: a
``--variant accel=gpu`` override, else ``ENVSTACKS_VARIANT_ACCEL``, else the first variant
(in spec order) whose every selector matches, else the fallback. A selector that fails or is
unknown counts as not matching, with a warning: detection never fails a deploy. The manifest's
layers are then rearranged: the other variants left out (never downloaded), and layers that
need the fallback made to need the chosen variant. Once the chosen variant is in place, the
slot folder name (``framework-accel``), through which the layers above reach it, becomes a
relative symlink to it, replaced atomically; a variant deployed before and no longer chosen is
removed afterwards.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from envstacks.floor.errors import DeployError, SelectionError
from envstacks.floor.fs import discard, fsync_dir, temporary_name
from envstacks.floor.named_plugins import Registry
from envstacks.floor.report import Reporter
from envstacks.published.manifest import ManifestLayer
from envstacks.published.variant_table import VariantGroup
from envstacks.stages.deploying.deploy_record import Deployment
from envstacks.stages.deploying.kept_indexes import index_path
from envstacks.stages.deploying.variant_selectors import (
    Condition,
    System,
    VariantSelector,
    env_variable,
)
from envstacks.stages.stackspec.variants import SELECTOR


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantChoice:
    """The variant chosen for one framework, and why."""

    framework: str
    variant: str
    layer_name: str
    #: The chosen layer's folder (set once the manifest's layers are known).
    install_target: str = ""
    #: The folder the layers above link through.
    slot: str = ""
    reason: str


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["accel=gpu"]`` -> ``{"accel": "gpu"}``.

    Raises:
        DeployError: an item is not ``FRAMEWORK=VARIANT``.
    """
    overrides: dict[str, str] = {}
    for item in items:
        framework, sep, variant = item.partition("=")
        if not sep or not framework.strip() or not variant.strip():
            raise DeployError(
                f"--variant {item!r}: expected FRAMEWORK=VARIANT",
                hint="write --variant accel=gpu (the framework's name, then one of its variants)",
            )
        overrides[framework.strip()] = variant.strip()
    return overrides


def choose_variants(
    groups: Sequence[VariantGroup],
    overrides: Mapping[str, str],
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
    system: System | None = None,
) -> tuple[VariantChoice, ...]:
    """One choice per framework with variants.

    Raises:
        DeployError: an override names an unknown framework or variant (the message lists
            the known ones), or so does an ``ENVSTACKS_VARIANT_*`` variable.
    """
    system = system or System()
    known = {group.framework: group for group in groups}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        listed = ", ".join(repr(name) for name in known) or "none"
        raise DeployError(
            f"--variant {unknown[0]}=...: the published stack has no framework {unknown[0]!r} "
            f"with variants (frameworks with variants: {listed})",
            hint="name a framework of the stack, such as --variant accel=cpu",
        )
    selectors: Registry[VariantSelector] = Registry.from_hook(
        pm, "envstacks_variant_selectors", kind="variant selector", error=DeployError
    )
    return tuple(
        _choose(group, overrides.get(group.framework), selectors, system, reporter)
        for group in groups
    )


def _choose(
    group: VariantGroup,
    override: str | None,
    selectors: Registry[VariantSelector],
    system: System,
    reporter: Reporter,
) -> VariantChoice:
    variable = env_variable(group.framework)
    for wanted, why in (
        (override, f"--variant {group.framework}={override}"),
        (system.environ.get(variable), f"{variable}={system.environ.get(variable)}"),
    ):
        if wanted is None:
            continue
        variant = group.find(wanted)
        if variant is None:
            names = ", ".join(repr(v.name) for v in group.variants)
            raise DeployError(
                f"{why}: framework {group.framework!r} has no variant {wanted!r} "
                f"(its variants: {names})",
                hint=f"choose one of {names}",
            )
        return _made(group, variant.name, variant.layer_name, f"chosen by {why}")
    fallback_reasons: list[str] = []
    for variant in group.variants:
        if not variant.select:
            continue
        verdicts = [
            _evaluate(
                text,
                group,
                variant=variant.name,
                selectors=selectors,
                system=system,
                reporter=reporter,
            )
            for text in variant.select
        ]
        reasons = "; ".join(
            f"{text}: {reason}" for text, (_, reason) in zip(variant.select, verdicts, strict=True)
        )
        if all(matched for matched, _ in verdicts):
            return _made(group, variant.name, variant.layer_name, f"selected ({reasons})")
        fallback_reasons.append(f"{variant.name!r} not selected ({reasons})")
    fallback = next(v for v in group.variants if v.layer_name == group.fallback)
    why = "; ".join(fallback_reasons) or "no variant has a selector"
    return _made(group, fallback.name, fallback.layer_name, f"fallback: {why}")


def _made(group: VariantGroup, variant: str, layer_name: str, reason: str) -> VariantChoice:
    return VariantChoice(
        framework=group.framework,
        variant=variant,
        layer_name=layer_name,
        slot=group.slot,
        reason=reason,
    )


def _evaluate(
    text: str,
    group: VariantGroup,
    *,
    variant: str,
    selectors: Registry[VariantSelector],
    system: System,
    reporter: Reporter,
) -> tuple[bool, str]:
    """A selector's verdict; failures and unknown selectors count as no match, with a warning."""
    match = SELECTOR.fullmatch(text)
    if match is None:
        reporter.warning(f"variant {variant!r} of {group.framework!r}: bad selector {text!r}")
        return False, "malformed selector"
    selector = selectors.find(match["name"])
    if selector is None:
        reporter.warning(
            f"variant {variant!r} of {group.framework!r}: unknown selector {match['name']!r} "
            f"(known: {', '.join(selectors.names())}); treated as not matching"
        )
        return False, "unknown selector"
    condition = Condition(
        selector=match["name"],
        op=match["op"],
        value=match["value"],
        framework=group.framework,
        variant=variant,
    )
    try:
        verdict = selector.evaluate(condition, system)
    except Exception as exc:
        reporter.warning(
            f"variant {variant!r} of {group.framework!r}: selector {text!r} failed ({exc}); "
            "treated as not matching"
        )
        return False, f"detection failed ({exc})"
    return verdict.matched, verdict.reason


def check_include(
    include: Sequence[str], groups: Sequence[VariantGroup], choices: Sequence[VariantChoice]
) -> None:
    """Refuse an ``--include`` pattern that only names variants this deploy did not choose.

    Raises:
        SelectionError: the pattern matches another variant of a framework and not the
            chosen one; the message says what was chosen and why, the hint how to choose it.
    """
    for pattern in include:
        for group, choice in zip(groups, choices, strict=True):
            if fnmatch.fnmatchcase(choice.layer_name, pattern):
                continue
            for variant in group.variants:
                if variant.name != choice.variant and fnmatch.fnmatchcase(
                    variant.layer_name, pattern
                ):
                    raise SelectionError(
                        f"--include {pattern!r} names {variant.layer_name}, variant "
                        f"{variant.name!r} of framework {group.framework!r}, but this deploy "
                        f"chose {choice.variant!r} ({choice.reason})",
                        hint=f"add --variant {group.framework}={variant.name} to deploy it",
                    )


def arrange_layers(
    layers: Sequence[ManifestLayer],
    choices: Sequence[VariantChoice],
    groups: Sequence[VariantGroup],
) -> tuple[tuple[ManifestLayer, ...], tuple[VariantChoice, ...]]:
    """The manifest's layers with only the chosen variants, and the choices with their folders.

    Layers that need a fallback variant need the chosen one instead.
    """
    by_name = {layer.layer_name: layer for layer in layers}
    swap: dict[str, str] = {}
    dropped: set[str] = set()
    placed: list[VariantChoice] = []
    for group, choice in zip(groups, choices, strict=True):
        chosen, fallback = by_name.get(choice.layer_name), by_name.get(group.fallback)
        if chosen is None or fallback is None:
            continue  # not published for this platform
        swap[fallback.install_target] = chosen.install_target
        dropped |= {
            by_name[v.layer_name].install_target
            for v in group.variants
            if v.layer_name in by_name and v.layer_name != choice.layer_name
        }
        placed.append(dataclasses.replace(choice, install_target=chosen.install_target))
    arranged = tuple(
        dataclasses.replace(
            layer, required_layers=tuple(swap.get(name, name) for name in layer.required_layers)
        )
        for layer in layers
        if layer.install_target not in dropped
    )
    return arranged, tuple(placed)


def link_slot(target: Path, choice: VariantChoice) -> bool:
    """Point the slot at the chosen variant (atomically); returns whether it changed.

    Raises:
        DeployError: the slot name is taken by a real folder or file.
    """
    slot = target / choice.slot
    if slot.is_symlink():
        if str(slot.readlink()) == choice.install_target:
            return False
    elif os.path.lexists(slot):
        raise DeployError(
            f"{slot} exists and is not the variant link envstacks makes; it was left untouched",
            hint="move it away, then deploy again",
        )
    temporary = target / temporary_name(choice.slot)
    try:
        temporary.symlink_to(choice.install_target)
        temporary.replace(slot)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DeployError(
            f"cannot link the variant slot {slot} to {choice.install_target}: "
            f"{exc.strerror or exc}",
            hint="deploy to a file system that supports symbolic links",
        ) from exc
    fsync_dir(target)  # the new link is durable before the earlier variant goes
    return True


def remove_unchosen(target: Path, earlier: str) -> bool:
    """Remove the variant an earlier deploy chose, once the slot no longer points at it.

    Out of its name first (:func:`discard`): a run killed meanwhile leaves a temporary that the
    next deploy removes, never a half-removed layer under its name. Returns whether it was there.
    """
    there = os.path.lexists(target / earlier)
    discard(target / earlier)
    return there


class SlotLinker:
    """Links each framework's slot to its chosen variant once that variant is in place.

    The record of the choice is written right after the link; the variant chosen before (if
    another) is then removed, so a deploy killed at any point leaves working layers: the slot
    always names a variant that is in place.
    """

    def __init__(
        self, choices: Sequence[VariantChoice], deployment: Deployment, reporter: Reporter
    ) -> None:
        self._choices = {choice.install_target: choice for choice in choices}
        self._deployment = deployment
        self._reporter = reporter
        self._done: set[str] = set()

    def linked(self, name: str) -> bool:
        """Whether this deploy linked a slot to the variant ``name``."""
        return name in self._done

    def link(self, names: Iterable[str]) -> None:
        """Link the slots of the chosen variants among ``names`` that are in place."""
        target = self._deployment.target
        for name in names:
            choice = self._choices.get(name)
            if choice is None or name in self._done or not (target / name).is_dir():
                continue
            earlier = self._deployment.variant(choice.framework) or {}
            if link_slot(target, choice):
                self._reporter.info(f"{choice.slot} -> {name} (variant {choice.variant!r})")
            self._deployment.put_variant(
                choice.framework,
                {
                    "variant": choice.variant,
                    "install_target": name,
                    "slot": choice.slot,
                    "reason": choice.reason,
                },
            )
            old = earlier.get("install_target")
            if old is not None and old != name:
                if remove_unchosen(target, old):
                    self._reporter.info(
                        f"removed {old}: variant {earlier.get('variant')!r} is no longer chosen"
                    )
                self._deployment.drop(old)  # also when its folder had gone already
                index_path(target, old).unlink(missing_ok=True)
            self._done.add(name)
