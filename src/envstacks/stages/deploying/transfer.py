"""How each layer to install reaches its work folder: a delta over an installed version, or whole.

:func:`unpack_cheapest` is what the deployer runs for each layer to install: when a delta of
the layer fits a version installed in the target and that version's file index is known
(kept in the target, :mod:`envstacks.stages.deploying.kept_indexes`, or else fetched from the
source, which publishes the index of each delta's base), the delta is fetched, verified and unpacked
like any archive and the new version assembled from it
(:mod:`envstacks.stages.deploying.delta_apply`); if anything about it does not fit, a warning says
why and the full archive is used, as it is when no delta fits. It returns the work folder, the
layer's new file index (kept once the layer is placed) and what was fetched, for ``deploy --json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import remove_tree
from envstacks.floor.report import Reporter
from envstacks.published.index_fetch import fetch_index, fetch_published_index
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source
from envstacks.stages.deploying.delta_apply import assemble, choose_delta, delta_layer
from envstacks.stages.deploying.deploy_record import DeployedLayer
from envstacks.stages.deploying.deploy_result import LayerTransfer
from envstacks.stages.deploying.kept_indexes import load_index, store_index

__all__ = ["Unpacked", "unpack_cheapest"]

#: Fetches, verifies and unpacks an archive (a layer's, or a delta as its own entry) into a
#: fresh work folder inside the target; returns the work folder.
Unpack = Callable[[ManifestLayer], Path]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unpacked:
    """A layer unpacked into its work folder, ready to place."""

    workdir: Path
    #: The new version's file index, to keep once it is placed (``None``: none published).
    index: bytes | None
    transfer: LayerTransfer


def unpack_cheapest(
    unpack: Unpack,
    src: Source,
    layer: ManifestLayer,
    *,
    target: Path,
    records: Mapping[str, DeployedLayer],
    reporter: Reporter,
) -> Unpacked:
    """Unpack ``layer`` from a fitting delta, else from its full archive (module docstring).

    Raises:
        DeployError: (a refusal) the full archive is missing, damaged or unsafe.
    """
    name = layer.install_target
    spent = 0
    choice = choose_delta(layer, records, target)
    if choice is not None and src.holds(choice[0].archive_name):
        offer, base = choice
        base_index = load_index(target, base, reporter)
        if base_index is None:  # deployed before indexes were kept, or damaged: fetch it
            fetched = fetch_published_index(src, offer.base_index, offer.base_tree_sha256)
            spent += len(fetched[0]) if fetched is not None else 0
            base_index = fetched[1] if fetched is not None else None
            if fetched is not None:  # kept again, for the updates after this one
                store_index(target, base.install_target, fetched[0])
        if base_index is None:
            reporter.debug(f"{name}: no file index of {base.install_target}; no delta")
        else:
            workdir: Path | None = None
            try:
                spent += offer.archive_size
                workdir = unpack(delta_layer(layer, offer))
                index = assemble(
                    layer,
                    offer,
                    root=workdir / name,
                    base=target / base.install_target,
                    base_index=base_index,
                    target=target,
                )
            except BaseException as exc:
                if workdir is not None:  # whatever went wrong, no work folder stays behind
                    remove_tree(workdir)
                if not isinstance(exc, DeployError):
                    raise
                reporter.warning(
                    f"{name}: the delta {offer.archive_name} was not used ({exc.message}); "
                    "installing the full archive instead"
                )
            else:
                reporter.debug(
                    f"{name}: assembled from {offer.archive_name} over {base.install_target}"
                )
                transfer = LayerTransfer(
                    install_target=name,
                    method="delta",
                    downloaded_bytes=spent,
                    base=base.install_target,
                )
                return Unpacked(workdir=workdir, index=index.to_bytes(), transfer=transfer)
    workdir = unpack(layer)
    try:
        data = fetch_index(src, layer)
    except BaseException:
        remove_tree(workdir)
        raise
    spent += layer.archive_size + (len(data) if data is not None else 0)
    transfer = LayerTransfer(install_target=name, method="full", downloaded_bytes=spent)
    return Unpacked(workdir=workdir, index=data, transfer=transfer)
