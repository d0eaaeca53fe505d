"""`load`: corpus files into a store, all or nothing by default."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from pydantic import BaseModel

from .corpus import SUFFIXES, CorpusBuilder, Reject, read_records
from .errors import CorpusError
from .graph.base import Progress, Store
from .graph.batch import GraphBatch

MAX_SHOWN = 50


class LoadReport(BaseModel):
    files: int
    records: int
    scenes: int
    expressions: int
    rejected: int = 0
    rejects_file: str | None = None
    counts: dict[str, int]
    # "style:poeta" -> expressions loaded with a style, register or tone label that is neither
    # a canonical name nor an alias (corpus/vocabulary.py); loaded as given, reported, not refused
    unknown_labels: dict[str, int] = {}


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
    was_empty = store.is_empty()
    parents = {} if was_empty else {child: parent for parent, child in store.contains_edges()}
    builder = CorpusBuilder(parents=parents)
    rejects: list[Reject] = []
    with _collector_paused():
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
            names = ", ".join(map(str, files)) or "no files given"
            raise CorpusError([f"{names}: no records to load"])
        corpus = builder.corpus
        batch = corpus.batch()
        _keep_needed_replacements(store, batch, was_empty)
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
        # An empty store now holds exactly the batch: no need to count what was just written.
        counts=batch.counts() if was_empty else store.counts(),
        unknown_labels=dict(sorted(builder.unknown_labels.items())),
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while corpus files are read and built.

    Building allocates millions of small objects that all stay alive until the batch is
    written and hold no cycles to collect, yet every collection walks them again: with the
    collector on, bench/ingest.py's embedded load takes ~30% longer.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What was made meanwhile joins the oldest generation unscanned: otherwise the
        # first collection after the pause would walk all of it at once.
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _keep_needed_replacements(store: Store, batch: GraphBatch, was_empty: bool) -> None:
    """Drop the stale-edge pass for scenes that cannot have stale edges: new ones (all of them
    in a store that was empty), and ones whose stored content hash (components and
    archetypes included) is unchanged."""
    if was_empty:
        batch.replace.clear()
        return
    new_hash = {row["id"]: row["content_hash"] for row in batch.node_rows("Scene")}
    ids = sorted(batch.replace.get("HAS", {}))
    stored = store.content_hashes(ids) if ids else {}
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
