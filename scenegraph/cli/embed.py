"""Commands over the vector indexes: embed, search, neighbours."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import click

from ..embedding_backends import BACKENDS, DEFAULT_BACKEND
from ..output import console, print_json, print_table
from . import cli, json_option, open_for, progress_bar

if TYPE_CHECKING:
    from ..graph.base import Store
    from ..neighbours import By, Hit
    from ..vectors import Kind

KIND_CHOICES = ("scene", "expression", "all")


def _k_option(f):
    return click.option(
        "-k", "k", default=10, show_default=True, type=click.IntRange(1), help="How many hits."
    )(f)


@cli.command()
@click.option(
    "--model",
    envvar="SCENEGRAPH_EMBED_MODEL",
    default=None,
    metavar="MODEL",
    help="A sentence-transformers folder or cached name, or openai:<model> "
    "(endpoint from SCENEGRAPH_EMBED_BASE_URL). Default: the model the indexes "
    "were built with, else the packaged all-MiniLM-L6-v2. "
    "Env: SCENEGRAPH_EMBED_MODEL.",
)
@click.option(
    "--backend",
    envvar="SCENEGRAPH_EMBED_BACKEND",
    default=None,
    type=click.Choice(BACKENDS),
    help="How a sentence-transformers model runs: torch, onnx, or onnx-int8 (ONNX files made "
    "from the local model on first use and cached beside it). Default: the backend the "
    f"indexes were built with, else {DEFAULT_BACKEND}. A change rebuilds the indexes. "
    "Env: SCENEGRAPH_EMBED_BACKEND.",
)
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    type=click.IntRange(1),
    help="Texts per model call.",
)
@click.option(
    "--kind",
    type=click.Choice(KIND_CHOICES),
    default="all",
    show_default=True,
    help="What to embed.",
)
@click.option(
    "--hnsw-threshold",
    default=None,
    type=click.IntRange(1),
    envvar="SCENEGRAPH_HNSW_THRESHOLD",
    help="Vectors from which an index is HNSW instead of exact (default 50000). "
    "Env: SCENEGRAPH_HNSW_THRESHOLD.",
)
@json_option
@click.pass_context
def embed(
    ctx: click.Context,
    model: str | None,
    backend: str | None,
    batch_size: int,
    kind: Literal["scene", "expression", "all"],
    hnsw_threshold: int | None,
    as_json: bool,
) -> None:
    """Embed new and changed scenes and expressions into FAISS indexes beside the store.

    A second run over an unchanged graph embeds nothing; a different --model or --backend
    rebuilds.

    \b
    Example:
      scenegraph embed
      scenegraph embed --backend onnx
      scenegraph embed --model ./models/multilingual-e5-small --batch-size 32
    """
    from ..vectors import HNSW_THRESHOLD, KINDS, plan_embed, store_embedder

    store = open_for(ctx, read_only=True)
    kinds = KINDS if kind == "all" else (kind,)
    plan = plan_embed(store, store_embedder(store, model, backend, kinds), kinds)
    with progress_bar("embedding") as bar:
        task = bar.add_task("embedding", total=plan.pending)
        report = plan.run(
            batch_size, lambda n: bar.advance(task, n), hnsw_threshold or HNSW_THRESHOLD
        )
    if as_json:
        return print_json(report)
    for part in report.kinds:
        if part.rebuilt:
            console.print(f"{part.kind} index rebuilt: {part.rebuilt}", markup=False)
    print_table(
        ["kind", "vectors", "new", "changed", "removed", "unchanged", "index"],
        [
            (r.kind, r.total, r.new, r.changed, r.removed, r.unchanged, r.index_type)
            for r in report.kinds
        ],
        title=f"model {report.model} ({report.dimension}-d"
        + (f", {report.backend})" if report.backend else ")"),
    )


@cli.command()
@click.argument("text")
@_k_option
@click.option(
    "--kind",
    type=click.Choice(KIND_CHOICES[:2]),
    default="scene",
    show_default=True,
    help="Search scenes or expressions.",
)
@json_option
@click.pass_context
def search(ctx: click.Context, text: str, k: int, kind: Kind, as_json: bool) -> None:
    """Scenes (or expressions) most similar to free text, a hyperlexeme or a scene id.

    \b
    Example:
      scenegraph search "an old man listens to the sea at dusk" -k 5
      scenegraph search жартишинавход
    """
    from ..neighbours import search as search_index

    store = open_for(ctx, read_only=True)
    _show(store, search_index(store, text, k, kind=kind), kind, as_json)


@cli.command()
@click.argument("scene_id", required=False)
@_k_option
@click.option(
    "--by",
    type=click.Choice(["semantic", "structural", "both"]),
    default="semantic",
    show_default=True,
    help="Meaning (vectors), structure (the graph), or both fused.",
)
@click.option(
    "--materialize",
    is_flag=True,
    help="Write the hits as RESONATES {score} edges (replacing the scene's old ones).",
)
@click.option(
    "--all",
    "every_scene",
    is_flag=True,
    help="Every scene at once; with --materialize, writes all RESONATES edges.",
)
@json_option
@click.pass_context
def neighbours(
    ctx: click.Context,
    scene_id: str | None,
    k: int,
    by: By,
    materialize: bool,
    every_scene: bool,
    as_json: bool,
) -> None:
    """Scenes nearest to a scene by meaning, by graph structure, or both, with reasons.

    \b
    Example:
      scenegraph neighbours Δ101 -k 5 --by both
      scenegraph neighbours --all -k 5 --materialize
    """
    from .. import neighbours as near

    if every_scene == bool(scene_id) or (every_scene and not materialize):
        raise click.UsageError("give a SCENE_ID, or --all together with --materialize")
    store = open_for(ctx, read_only=not materialize)
    if every_scene:
        with progress_bar("neighbours") as bar:
            task = bar.add_task("neighbours", total=None)
            written = near.materialize_all(store, k, by, lambda n: bar.advance(task, n))
        return console.print(f"wrote {written} RESONATES edges", markup=False)
    assert scene_id is not None  # the usage check above: no --all, so a SCENE_ID
    hits = near.neighbours(store, scene_id, k, by)
    if materialize:
        near.materialize(store, scene_id, hits)
    _show(store, hits, "scene", as_json)


def _show(store: Store, hits: list[Hit], kind: Kind, as_json: bool) -> None:
    if as_json:
        return print_json([hit.model_dump() for hit in hits])
    labels = _labels(store, [hit.id for hit in hits], kind)
    print_table(
        ["#", "id", kind if kind == "expression" else "title", "score", "by", "reasons"],
        [
            (rank, hit.id, labels.get(hit.id), f"{hit.score:.3f}", hit.by, "; ".join(hit.reasons))
            for rank, hit in enumerate(hits, start=1)
        ],
    )


def _labels(store: Store, ids: Iterable[str], kind: Kind) -> dict[str, str]:
    """A short label per id: a scene's title (or the start of its text), an expression's text."""
    return {item_id: (text or "")[:80] for item_id, text in store.labels(kind, ids)}
