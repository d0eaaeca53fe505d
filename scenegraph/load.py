"""`load`: corpus files into a store, all or nothing by default."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson
from pydantic import BaseModel

from .corpus import SUFFIXES, CorpusBuilder, Reject, read_records
from .errors import CorpusError
from .graph.base import Progress, Store

MAX_SHOWN = 50


class LoadReport(BaseModel):
    files: int
    records: int
    scenes: int
    expressions: int
    rejected: int = 0
    rejects_file: str | None = None
    counts: dict[str, int]


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to load: each path, or the corpus files inside a folder, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in SUFFIXES
                and p.is_file()
                and not p.name.endswith(".rejects.jsonl")
            )
        else:
            out.append(path)
    return out


def load_corpus(
    store: Store,
    paths: Iterable[str | Path],
    *,
    skip_bad: bool = False,
    rejects_file: str | Path | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Read, check and write corpus files.

    Without ``skip_bad`` any problem raises ``CorpusError`` (one line per problem) and nothing
    is written. With it, good records are written and the bad ones go to ``rejects_file`` with
    their reasons.
    """
    files = corpus_files(paths)
    store.init_schema()
    was_empty = not store.run("MATCH (s:Scene) RETURN s.id LIMIT 1").rows
    builder = CorpusBuilder(parents={child: parent for parent, child in store.contains_edges()})
    rejects: list[Reject] = []
    for path in files:
        try:
            for raw in read_records(path):
                if problems := builder.add(raw):
                    rejects.append(Reject(raw.where, problems, raw.data))
        except CorpusError as exc:
            rejects.append(Reject(None, exc.problems, None))
    if rejects and not skip_bad:
        raise CorpusError(_summary([p for r in rejects for p in r.problems]))
    if builder.records == 0 and not rejects:
        raise CorpusError([f"{', '.join(map(str, files)) or 'no files given'}: no records to load"])
    corpus = builder.corpus
    batch = corpus.batch()
    _keep_needed_replacements(store, batch)
    store.upsert(batch, progress)
    if not was_empty:  # sub-trees already stored may have moved; a fresh load placed them all
        store.recompute_fractal()
    written = _write_rejects(rejects, rejects_file) if rejects else None
    return LoadReport(
        files=len(files),
        records=builder.records,
        scenes=len(corpus.scenes),
        expressions=len(corpus.expressions),
        rejected=len(rejects),
        rejects_file=written,
        counts=store.counts(),
    )


def _keep_needed_replacements(store: Store, batch) -> None:
    """Drop the stale-edge pass for scenes that cannot have stale edges: new ones, and ones
    whose stored content hash (components and archetypes included) is unchanged."""
    new_hash = {row["id"]: row["content_hash"] for row in batch.node_rows("Scene")}
    ids = sorted(batch.replace.get("HAS", {}))
    stored = (
        dict(
            store.run(
                "UNWIND $ids AS sid MATCH (s:Scene {id: sid}) RETURN s.id, s.content_hash",
                {"ids": ids},
            ).rows
        )
        if ids
        else {}
    )
    for edges in batch.replace.values():
        for scene_id in [s for s in edges if stored.get(s) in (None, new_hash.get(s))]:
            del edges[scene_id]


def _summary(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_SHOWN:
        return problems
    return problems[:MAX_SHOWN] + [f"… and {len(problems) - MAX_SHOWN} more problems"]


def _write_rejects(rejects: list[Reject], path: str | Path | None) -> str:
    target = Path(path or "scenegraph.rejects.jsonl")
    with target.open("wb") as out:
        for reject in rejects:
            row = {
                "where": reject.where.at() if reject.where else None,
                "problems": reject.problems,
                "record": reject.record,
            }
            out.write(orjson.dumps(row, default=str) + b"\n")
    return str(target)
