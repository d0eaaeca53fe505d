"""The store interface: a few primitives each backend implements, everything else derived.

A backend implements ``init_schema``, ``run`` (one Cypher statement, read-only unless asked),
``upsert`` (a ``GraphBatch``, idempotently) and ``close``. Reading scenes, counts, subtrees
and the fractal bookkeeping are written once here in the Cypher both stores speak.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from ..models import Component, Expression, Scene, fractal_place
from .batch import GraphBatch, key_position
from .schema import schema

Progress = Callable[[int], None]
FETCH_BATCH = 5_000
IN_LIST = "MATCH (s:Scene) WHERE s.id IN $ids "


class QueryResult(BaseModel):
    """Rows of a query; nodes and relationships in them are plain dicts with a `_label`."""

    columns: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def column(self, index: int = 0) -> list[Any]:
        return [row[index] for row in self.rows]


class IdText(NamedTuple):
    """A node's id and one text of it."""

    id: str
    text: str | None


class Store(ABC):
    """A Cypher graph holding scenes. Open one with ``scenegraph.graph.open_store(uri)``."""

    dialect: str
    uri: str
    data_dir: Path  # where the vector indexes and journals of this store live

    @abstractmethod
    def init_schema(self) -> None:
        """Create tables, constraints and indexes; safe to run again."""

    @abstractmethod
    def run(
        self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> QueryResult:
        """Run one statement. Without ``write`` it must only read, or it raises
        ReadOnlyViolation."""

    @abstractmethod
    def upsert(self, batch: GraphBatch, progress: Progress | None = None) -> None:
        """Merge every node and relationship of the batch; running it twice changes nothing."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- derived reads ------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of nodes per label and relationships per type."""
        out = {}
        for label in schema().nodes:
            out[label] = self.run(f"MATCH (n:{label}) RETURN count(n)").rows[0][0]
        for rel_type in schema().rels:
            out[rel_type] = self.run(f"MATCH ()-[r:{rel_type}]->() RETURN count(r)").rows[0][0]
        return out

    def scene_ids(self) -> list[str]:
        return self.run("MATCH (s:Scene) RETURN s.id ORDER BY s.id").column()

    def scenes(self, ids: Iterable[str] | None = None) -> Iterator[Scene]:
        """Full scenes (components, archetypes, hyperlexemes, parts, links), sorted by id.

        All scenes are read with one query per relationship type (a scan each); given ids are
        read in batches anchored on those ids.
        """
        if ids is None:
            yield from self._scene_batch(None)
            return
        all_ids = sorted(set(ids))
        for start in range(0, len(all_ids), FETCH_BATCH):
            yield from self._scene_batch(all_ids[start : start + FETCH_BATCH])

    def scene(self, scene_id: str, rel_types: Collection[str] | None = None) -> Scene | None:
        """One scene, read by index lookups on its id. ``rel_types``: the relationship types
        that have edges at all, when the caller knows them; the others are not asked about
        (LadybugDB answers a pattern over an empty relationship table slowly)."""
        return next(iter(self._scene_batch([scene_id], rel_types)), None)

    def _scene_batch(
        self, ids: list[str] | None, rel_types: Collection[str] | None = None
    ) -> list[Scene]:
        rows = self._scoped(
            "MATCH (s:Scene{S}) RETURN s.id, s.title, s.text, s.lang, s.depth, s.root, s.props", ids
        )
        scenes = {
            r[0]: Scene(
                id=r[0],
                title=r[1],
                text=r[2],
                lang=r[3],
                depth=r[4],
                root=r[5],
                props=json.loads(r[6]) if r[6] else {},
            )
            for r in rows
        }
        if not scenes:
            return []
        present = set(schema().rels) if rel_types is None else set(rel_types)
        if "HAS" in present:
            for sid, kind, name in self._scoped(
                "MATCH (s:Scene{S})-[:HAS]->(c:Component) RETURN s.id, c.kind, c.name", ids
            ):
                scenes[sid].components.append(Component(kind=kind, name=name))
        for field, rel_type, query in (
            (
                "archetypes",
                "EVOKES",
                "MATCH (s:Scene{S})-[:EVOKES]->(a:Archetype) RETURN s.id, a.name",
            ),
            (
                "hyperlexemes",
                "NAMES",
                "MATCH (h:Hyperlexeme)-[:NAMES]->(s:Scene{S}) RETURN s.id, h.form",
            ),
            ("parts", "CONTAINS", "MATCH (s:Scene{S})-[:CONTAINS]->(p:Scene) RETURN s.id, p.id"),
            ("leads_to", "LEADS_TO", "MATCH (s:Scene{S})-[:LEADS_TO]->(t:Scene) RETURN s.id, t.id"),
        ):
            if rel_type not in present:
                continue
            for sid, value in self._scoped(query, ids):
                getattr(scenes[sid], field).append(value)
        for scene in scenes.values():
            scene.components.sort(key=lambda c: (c.kind, c.name))
            for field in ("archetypes", "hyperlexemes", "parts", "leads_to"):
                getattr(scene, field).sort()
        return [scenes[i] for i in (sorted(scenes) if ids is None else ids) if i in scenes]

    def _scoped(
        self, query: str, ids: list[str] | None, params: dict[str, Any] | None = None
    ) -> list[list[Any]]:
        """Run ``query`` with its scene pattern ``(s:Scene{S})`` bound to no id (every scene),
        one id (an index lookup), or a list of ids (UNWIND)."""
        params = dict(params or {})
        if ids is None:
            return self.run(query.replace("{S}", ""), params).rows
        if len(ids) == 1:
            return self.run(query.replace("{S}", " {id: $sid}"), {**params, "sid": ids[0]}).rows
        return self.run(
            "UNWIND $ids AS sid " + query.replace("{S}", " {id: sid}"), {**params, "ids": ids}
        ).rows

    def window_rows(
        self,
        tail: str,
        window: list[str],
        *,
        dense: bool = False,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        """Rows of ``tail`` (Cypher of ``graph/`` modules) with ``s`` bound to the scenes of
        ``window``, a list of sorted ids; ``dense``: the window holds every scene between its
        first and its last id. Here ``s.id IN $ids``, which Neo4j's index answers; LadybugDB
        reads an id range instead (see ``LadybugStore.window_rows``)."""
        return self.run(IN_LIST + tail, {"ids": window, **(params or {})}).rows

    def local_files(self) -> list[Path]:
        """The files on this machine that hold the graph, the locked database file first:
        what a reader in another process watches for a writer's changes. None for a server."""
        return []

    def expressions(
        self, scene_ids: Iterable[str] | None = None, status: str | None = "active"
    ) -> list[Expression]:
        """Expressions of the given scenes (all scenes when None), active ones by default."""
        where = "WHERE e.status = $status" if status else ""
        ids = None if scene_ids is None else sorted(set(scene_ids))
        rows = self._scoped(
            f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene{{S}}) {where} RETURN e.id, e.text, "
            "e.form, e.style, e.register, e.tone, e.target, e.lang, e.provenance, e.props, "
            "e.quality, e.passed, e.status, s.id",
            ids,
            {"status": status} if status else {},
        )
        by_id: dict[str, Expression] = {}
        for r in rows:
            if r[0] in by_id:
                by_id[r[0]].scene_ids.append(r[13])
                continue
            by_id[r[0]] = Expression(
                id=r[0],
                text=r[1],
                form=r[2],
                style=r[3],
                register=r[4],
                tone=r[5],
                target=r[6],
                lang=r[7],
                provenance=_loads(r[8]),
                props=_loads(r[9]),
                quality=_loads(r[10]) or None,
                passed=r[11],
                status=r[12],
                scene_ids=[r[13]],
            )
        for expr in by_id.values():
            expr.scene_ids.sort()
        return sorted(by_id.values(), key=lambda e: e.id)

    def expression_texts(self) -> list[IdText]:
        """Id and text of every active expression, by id."""
        rows = self.run(
            "MATCH (e:Expression) WHERE e.status = 'active' RETURN e.id, e.text ORDER BY e.id"
        ).rows
        return [IdText(expr_id, text) for expr_id, text in rows]

    def labels(self, kind: Literal["scene", "expression"], ids: Iterable[str]) -> list[IdText]:
        """How the given nodes are shown in a list: a scene by its title (else its text), an
        expression by its text; ids that are not in the graph are left out."""
        label = "Expression" if kind == "expression" else "Scene"
        text = "n.text" if kind == "expression" else "coalesce(n.title, n.text)"
        rows = self.run(
            f"UNWIND $ids AS i MATCH (n:{label} {{id: i}}) RETURN n.id, {text}", {"ids": list(ids)}
        ).rows
        return [IdText(node_id, value) for node_id, value in rows]

    def scenes_evoking(self, archetypes: Iterable[str]) -> set[str]:
        """Ids of the scenes that evoke any of these archetypes."""
        return set(
            self.run(
                "MATCH (s:Scene)-[:EVOKES]->(a:Archetype) WHERE a.name IN $names "
                "RETURN DISTINCT s.id",
                {"names": list(archetypes)},
            ).column()
        )

    def contains_edges(self) -> list[tuple[str, str]]:
        rows = self.run("MATCH (a:Scene)-[:CONTAINS]->(b:Scene) RETURN a.id, b.id").rows
        return [(a, b) for a, b in rows]

    def is_empty(self) -> bool:
        """Whether the store holds no scene: a load into it has no stored edges to replace."""
        return not self.run("MATCH (s:Scene) RETURN s.id LIMIT 1").rows

    def content_hashes(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Stored content hash of each given scene the store has (None where it has none)."""
        rows = self.run(
            "UNWIND $ids AS sid MATCH (s:Scene {id: sid}) RETURN s.id, s.content_hash",
            {"ids": list(ids)},
        ).rows
        return dict(rows)

    def subtree(self, scene_id: str) -> list[str]:
        """The scene and all its sub-scenes to any depth, breadth first."""
        seen, frontier = [scene_id], [scene_id]
        while frontier:
            rows = self._scoped(
                "MATCH (s:Scene{S})-[:CONTAINS]->(c:Scene) RETURN c.id ORDER BY c.id", frontier
            )
            frontier = [row[0] for row in rows if row[0] not in seen]
            seen.extend(frontier)
        return seen

    def component_lexicon(self) -> list[Component]:
        rows = self.run("MATCH (c:Component) RETURN c.kind, c.name ORDER BY c.kind, c.name").rows
        return [Component(kind=k, name=n) for k, n in rows]

    def scenes_with_components(self) -> dict[str, list[str]]:
        """Scene id -> component names, for hyperlexeme parsing."""
        out: dict[str, list[str]] = defaultdict(list)
        for sid, name in self.run("MATCH (s:Scene)-[:HAS]->(c:Component) RETURN s.id, c.name").rows:
            out[sid].append(name)
        return out

    # -- fractal bookkeeping ------------------------------------------------------------

    def recompute_fractal(self) -> int:
        """Set `depth` and `root` of every scene from the CONTAINS tree; returns how many
        changed."""
        parent = {child: par for par, child in self.contains_edges()}
        current = {
            r[0]: (r[1], r[2])
            for r in self.run("MATCH (s:Scene) RETURN s.id, s.depth, s.root").rows
        }
        changed = []
        for sid, (depth, root) in current.items():
            new_depth, new_root = fractal_place(sid, parent)
            if (depth, root) != (new_depth, new_root):
                changed.append({"id": sid, "depth": new_depth, "root": new_root})
        if changed:
            self.run(
                "UNWIND $rows AS r MATCH (s:Scene {id: r.id}) "
                "SET s.depth = r.depth, s.root = r.root",
                {"rows": changed},
                write=True,
            )
        return len(changed)


def node_merge(label: str, rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    table = schema().nodes[label]
    # Only columns some row fills: a column of nothing but nulls has no type to bind.
    filled = [
        col
        for col in table.columns
        if col != table.key and any(row[col] is not None for row in rows)
    ]
    rows = [{col: row[col] for col in [table.key, *filled]} for row in rows]
    sets = ", ".join(f"n.{col} = coalesce(r.{col}, n.{col})" for col in filled)
    query = f"UNWIND $rows AS r MERGE (n:{label} {{{table.key}: r.{table.key}}})"
    return query + (f" SET {sets}" if sets else ""), rows


def rel_replace(rel_type: str, rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Delete a source's edges of this type whose target is not in the row's ``keys``."""
    rel = schema().rels[rel_type]
    src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
    return (
        f"UNWIND $rows AS r MATCH (a:{rel.source} {{{src_key}: r.src}})"
        f"-[e:{rel_type}]->(b:{rel.target}) WHERE NOT b.{dst_key} IN r.keys DELETE e",
        rows,
    )


def split_known(label: str, rows: list[tuple], known: set[Any]) -> tuple[list[tuple], list[tuple]]:
    """The node rows (``GraphBatch.node_values``) whose key the store lacks, and those it has
    (``known``)."""
    if not known:
        return rows, []
    at = key_position(label)
    return [r for r in rows if r[at] not in known], [r for r in rows if r[at] in known]


def rel_merge(rel_type: str, rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Edges between stored nodes, each made unless it exists, its columns set."""
    rel = schema().rels[rel_type]
    src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
    sets = ", ".join(f"e.{col} = r.{col}" for col in rel.columns)
    return (
        f"UNWIND $rows AS r MATCH (a:{rel.source} {{{src_key}: r.src}}) "
        f"MATCH (b:{rel.target} {{{dst_key}: r.dst}}) MERGE (a)-[e:{rel_type}]->(b)"
        + (f" SET {sets}" if sets else ""),
        rows,
    )


def _loads(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}
