"""The corpus loader under hypothesis: valid, damaged and garbage corpus files in every format.

Every input goes through what ``load_corpus`` does before it writes (read the file, check each
record, build the batch); one in ``--store-every`` also goes through ``load_corpus`` itself into
a real embedded store. An input passes when it is taken, or refused with ``CorpusError`` whose
problems are each one line shaped ``file:line: field: message``; anything else is a crash.
Our figure is the inputs that passed, the baseline the inputs tried (target 1.0).

    python bench/fuzz_loader.py [--examples 10000] [--store-every 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from _common import Result, report, stopwatch
from scenegraph.corpus import CorpusBuilder, read_records
from scenegraph.errors import CorpusError
from scenegraph.load import load_corpus
from scenegraph.store.ladybug import LadybugStore
from synth import write_corpus
from test_corpus_property import junk, record

PROBLEM = re.compile(r"^.+:\d+: [\w.\[\]]+: .+$")  # file:line: field: message
SUMMARY = re.compile(r"^… and \d+ more problems$")  # load_corpus's cut after 50 problems
SUFFIXES = [".jsonl", ".json", ".yaml", ".yml", ".txt"]


def synth_records(scenes: int = 200) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synth.jsonl"
        write_corpus(path, scenes, seed=3)
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def damaged(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A valid record with one field replaced by junk or dropped."""
    def damage(rec: dict, draw_key: int, value, drop: bool) -> dict:
        out = dict(rec)
        key = sorted(out)[draw_key % len(out)]
        if drop:
            out.pop(key)
        else:
            out[key] = value
        return out
    return st.builds(damage, valid, st.integers(0, 20), junk, st.booleans())


def serialise(records: list, suffix: str) -> bytes:
    if suffix in (".yaml", ".yml"):
        return yaml.safe_dump(records, allow_unicode=True).encode("utf-8")
    if suffix == ".json":
        return json.dumps(records, ensure_ascii=False).encode("utf-8")
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")


def corpus_files(valid_records: list[dict]) -> st.SearchStrategy:
    """(suffix, bytes): valid records, records some of them damaged or junk, serialised in a
    format (or under an unknown extension), cut short, or plain garbage."""
    valid = st.sampled_from(valid_records)
    records = st.lists(st.one_of(valid, valid, damaged(valid), record), min_size=1, max_size=6)
    well_formed = st.builds(lambda rs, sfx: (sfx, serialise(rs, sfx)), records,
                            st.sampled_from(SUFFIXES))
    clean = st.builds(lambda rs, sfx: (sfx, serialise(rs, sfx)),
                      st.lists(valid, min_size=1, max_size=6), st.sampled_from(SUFFIXES[:4]))
    truncated = st.builds(lambda pair, cut: (pair[0], pair[1][:cut]), well_formed,
                          st.integers(0, 400))
    garbage = st.tuples(st.sampled_from(SUFFIXES),
                        st.one_of(st.binary(max_size=200),
                                  st.text(max_size=200).map(lambda t: t.encode("utf-8"))))
    return st.one_of(clean, well_formed, well_formed, truncated, garbage)


def read_and_check(path: Path) -> None:
    """What ``load_corpus`` does before writing: read, check every record, build the batch."""
    builder = CorpusBuilder()
    problems = []
    for raw in read_records(path):
        problems += builder.add(raw)
    if problems:
        raise CorpusError(problems)
    builder.corpus.batch()


def documented(exc: CorpusError) -> bool:
    return bool(exc.problems) and all(
        "\n" not in line and (PROBLEM.match(line) or SUMMARY.match(line)) for line in exc.problems)


class Fuzz:
    def __init__(self, workdir: Path, store_every: int):
        self.workdir, self.store_every = workdir, store_every
        self.store = LadybugStore(workdir / "store")
        self.tried = self.passed = self.taken = self.stored = 0
        self.crashes: Counter[str] = Counter()  # kind of crash -> inputs
        self.examples: dict[str, str] = {}  # kind of crash -> the first input that showed it

    def one(self, suffix: str, data: bytes) -> None:
        path = self.workdir / f"corpus{suffix}"
        path.write_bytes(data)
        self.tried += 1
        ok = self._attempt(lambda: read_and_check(path), data, suffix)
        self.taken += ok is None
        if self.tried % self.store_every == 0:
            self.stored += 1
            stored = self._attempt(lambda: load_corpus(self.store, [path]), data, suffix)
            ok = ok if stored is not False else False
        self.passed += ok is not False

    def _attempt(self, action, data: bytes, suffix: str) -> bool | None:
        """None when the input was taken, True when refused as documented, False on a crash."""
        try:
            action()
            return None
        except CorpusError as exc:
            if documented(exc):
                return True
            self._crash(f"CorpusError with a badly shaped problem: {exc.problems[:2]}",
                        suffix, data)
        except Exception as exc:  # noqa: BLE001 — any other exception is what we look for
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._crash(f"{type(exc).__module__}.{type(exc).__name__} at "
                        f"{Path(where.filename).name}:{where.lineno}", suffix, data)
        return False

    def _crash(self, kind: str, suffix: str, data: bytes) -> None:
        self.crashes[kind] += 1
        self.examples.setdefault(kind, f"{suffix} {data[:100]!r}")


def run(examples: int, store_every: int, seed_value: int) -> Fuzz:
    with tempfile.TemporaryDirectory(prefix="fuzz-loader-") as tmp:
        fuzz = Fuzz(Path(tmp), store_every)

        @seed(seed_value)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def trial(data):
            fuzz.one(*data.draw(corpus_files(valid_records)))

        valid_records = synth_records()
        random.seed(seed_value)
        trial()
        fuzz.store.close()
    return fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--store-every", type=int, default=100,
                        help="Every Nth input is also loaded into a real store.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with stopwatch() as elapsed:
        fuzz = run(args.examples, args.store_every, args.seed)
    for kind, count in fuzz.crashes.most_common():
        print(f"CRASH ×{count}: {kind}; first input: {fuzz.examples[kind]}")
    report([Result("loader fuzz: inputs without a crash", fuzz.passed, fuzz.tried, "inputs", 1.0,
                   note=f"{fuzz.taken} taken, {fuzz.tried - fuzz.taken} refused, {fuzz.stored} through a real store, "
                        f"{sum(fuzz.crashes.values())} crashes, {elapsed[0]:.0f} s")])


if __name__ == "__main__":
    main()
