"""What generation reads from and writes to the graph besides whole scenes.

The plan asks which scenes have anything to express; the run asks which expressions the
journal calls stored are really in the graph, and retires the expressions a newer one replaces.
Expressions themselves are written with ``Store.upsert``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import FETCH_BATCH, Store


def expressible_scenes(store: Store) -> set[str]:
    """Scenes with something to express: a title, a text or a component (not bare references)."""
    described = store.run(
        "MATCH (s:Scene) WHERE s.text IS NOT NULL OR s.title IS NOT NULL RETURN s.id"
    ).column()
    composed = store.run("MATCH (s:Scene)-[:HAS]->(:Component) RETURN DISTINCT s.id").column()
    return set(described) | set(composed)


def existing_expressions(store: Store, ids: Iterable[str]) -> set[str]:
    """Those of ``ids`` that are expressions in the graph (a journal can outlive a store)."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), FETCH_BATCH):
        found.update(
            store.run(
                "UNWIND $ids AS i MATCH (e:Expression {id: i}) RETURN e.id",
                {"ids": wanted[start : start + FETCH_BATCH]},
            ).column()
        )
    return found


def supersede(store: Store, ids: Iterable[str]) -> None:
    """Mark these expressions superseded: a newer expression of their slot replaces them."""
    store.run(
        "UNWIND $ids AS i MATCH (e:Expression {id: i}) SET e.status = 'superseded'",
        {"ids": sorted(ids)},
        write=True,
    )
