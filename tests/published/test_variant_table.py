"""A published stack's variants: each variant layer's field, the manifest's table, read back."""

from __future__ import annotations

import pytest

from envstacks.floor.errors import DeployError
from envstacks.published.publish_folder import manifest
from envstacks.published.variant_table import Variant, read_variants, variant_fields


def _entry(name: str, **extra: object) -> dict[str, object]:
    return {
        "layer_name": name,
        "install_target": name,
        "runtime_layer": "cpython-3.12",
        "required_layers": [],
        **extra,
    }


def test_the_manifest_table_lists_variants_in_order_and_reads_back() -> None:
    layers = [
        _entry(
            "framework-accel-gpu", **variant_fields("accel", "gpu", ["nvidia"], "framework-accel")
        ),
        _entry("framework-accel-cpu", **variant_fields("accel", "cpu", [], "framework-accel")),
        _entry("framework-plain"),
    ]
    document = manifest(layers, order=["framework-accel-gpu", "framework-accel-cpu"])
    (group,) = read_variants(document, where="m.json")
    assert (group.framework, group.slot, group.fallback) == (
        "accel",
        "framework-accel",
        "framework-accel-cpu",
    )
    assert group.variants == (
        Variant(name="gpu", layer_name="framework-accel-gpu", select=("nvidia",)),
        Variant(name="cpu", layer_name="framework-accel-cpu", select=()),
    )


def test_a_stack_without_variants_has_no_table() -> None:
    document = manifest([_entry("framework-plain")])
    assert set(document) == {"layers"}
    assert read_variants(document, where="m.json") == ()


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"slot": "a/b", "fallback": "x", "variants": []}, "'a/b' is not a plain folder name"),
        (
            {"slot": "s", "fallback": "x", "variants": [{"name": "y", "layer_name": "y"}]},
            "the fallback 'x' of 'accel' is not one of its variants",
        ),
        ({"slot": "s"}, "('fallback' is missing)"),
    ],
)
def test_a_damaged_table_is_refused(table: dict[str, object], problem: str) -> None:
    with pytest.raises(DeployError) as caught:
        read_variants({"variants": {"accel": table}}, where="m.json")
    assert str(caught.value).startswith("m.json: the variants table is damaged (")
    assert problem in str(caught.value)
