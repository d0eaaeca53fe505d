"""The corpus loader under hypothesis: valid, damaged, cyclic, deep, huge and garbage corpus files.

An input is one to three corpus files loaded together. Every input goes through what
``load_corpus`` does before it writes (read the files, check each record, build the batch); one
in ``--store-every`` also goes through ``load_corpus`` itself into a real embedded store. An
input passes when it is taken, or refused with ``CorpusError`` whose problems are each one line
shaped ``file:line: field: message``; another exception is a crash, and a step that uses
``--limit`` seconds of CPU without progress (a record checked, a batch written), or ten limits
in all, or goes ten limits of wall time without progress, is a hang. Our figure is the inputs
that passed (neither crashed nor hung), the baseline the inputs tried (target 1.0).

The loader runs in child processes (``--workers``, long-lived, fed file paths over a pipe), so a
hang, even one inside C code, cannot stop the bench: the parent dumps the child's Python stack
(faulthandler, SIGUSR1) to name where it hung, kills it and starts a new one. The shapes: the
files of ``synth.py`` whole, damaged or cut short, and garbage (as before); parts that close a
cycle inside a record, across the records of a file or across files; scenes that list
themselves (deep in a tree, before a sibling); diamonds; parts nested up to 5,000 deep; lines of
1–5 MB; 5,000–20,000 records in a file. The cases of issue 13 are tried first, every run.

    python bench/fuzz_loader.py [--examples 10000] [--store-every 100] [--seed 1] [--limit 5]
                                [--workers 2] [--save-examples DIR]
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import json
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from _common import Result, report, stopwatch
from scenegraph.corpus import CorpusBuilder, read_records
from scenegraph.errors import CorpusError
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.load import load_corpus
from synth import write_corpus
from test_corpus_property import junk, record

PROBLEM = re.compile(r"^.+:\d+: [\w.\[\]]+: .+$")  # file:line: field: message
SUMMARY = re.compile(r"^… and \d+ more problems$")  # load_corpus's cut after 50 problems
SUFFIXES = [".jsonl", ".json", ".yaml", ".yml", ".txt"]
FORMATS = SUFFIXES[:4]  # the ones the loader reads
# A hang: a step of an input (read and check; load into the store) that uses LIMIT_S of CPU
# without progress (a record checked, a batch written), or TOTAL_LIMITS × LIMIT_S of CPU in
# all, or goes TOTAL_LIMITS × LIMIT_S of wall time without progress (blocked, not spinning).
# CPU time, so that a busy machine cannot turn a slow step into a hang: the slowest single steps
# drawn (a YAML file of flow lists nested 1,000+ deep, or of 1,500 records) take about 2.5 s.
LIMIT_S = 5.0
TOTAL_LIMITS = 10
CLOCK_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def synth_records(scenes: int = 200) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synth.jsonl"
        write_corpus(path, scenes, seed=3)
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# -- inputs: (shape, [(suffix, bytes), …]) -----------------------------------------------------


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


def serialise(records: list, suffix: str, wide: bool = False) -> bytes:
    if suffix in (".yaml", ".yml"):
        return yaml.safe_dump(records, allow_unicode=True,
                              width=1 << 30 if wide else 80).encode("utf-8")
    if suffix == ".json":
        return json.dumps(records, ensure_ascii=False).encode("utf-8")
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")


def one_file(shape: str, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """(suffix, bytes) → (shape, [(suffix, bytes)])."""
    return strategy.map(lambda pair: (shape, [pair]))


def corpus_files(valid_records: list[dict]) -> st.SearchStrategy:
    """One file: valid records, records some of them damaged or junk, serialised in a format
    (or under an unknown extension), cut short, or plain garbage."""
    valid = st.sampled_from(valid_records)
    records = st.lists(st.one_of(valid, valid, damaged(valid), record), min_size=1, max_size=6)
    well_formed = st.builds(lambda rs, sfx: (sfx, serialise(rs, sfx)), records,
                            st.sampled_from(SUFFIXES))
    clean = st.builds(lambda rs, sfx: (sfx, serialise(rs, sfx)),
                      st.lists(valid, min_size=1, max_size=6), st.sampled_from(FORMATS))
    truncated = st.builds(lambda pair, cut: (pair[0], pair[1][:cut]), well_formed,
                          st.integers(0, 400))
    garbage = st.tuples(st.sampled_from(SUFFIXES),
                        st.one_of(st.binary(max_size=200),
                                  st.text(max_size=200).map(lambda t: t.encode("utf-8"))))
    return st.one_of(one_file("clean", clean), one_file("well-formed", well_formed),
                     one_file("well-formed", well_formed), one_file("truncated", truncated),
                     one_file("garbage", garbage))


ident = st.text(alphabet="ABCDPQSTxyzабвΔ0123._-", min_size=1, max_size=4)


def chain_ids(min_size: int, max_size: int) -> st.SearchStrategy:
    return st.lists(ident, min_size=min_size, max_size=max_size, unique=True)


def nest(ids: list[str], innermost_parts: list, siblings: dict[int, list[str]]) -> dict:
    """ids[0] ⊃ ids[1] ⊃ … ⊃ ids[-1] as nested part records, built from the inside out (no
    recursion); the innermost has ``innermost_parts``, level i adds ``siblings[i]`` after its
    nested child."""
    node: dict = {"id": ids[-1], "parts": list(innermost_parts)}
    for level in range(len(ids) - 2, -1, -1):
        node = {"id": ids[level], "parts": [node, *siblings.get(level, [])]}
    return node


@st.composite
def cycle_in_record(draw, self_part: bool = False):
    """One record whose nested parts name an ancestor (or, ``self_part``, the innermost scene
    itself), mostly with a sibling after the link that closes the cycle: the shape that spun
    ``_link_problem``. The cycle closes at the ancestor's level (its nested child), a
    self-part at the innermost level."""
    ids = draw(chain_ids(1 if self_part else 2, 8))
    back = len(ids) - 1 if self_part else draw(st.integers(0, len(ids) - 2))
    others = [f"o{i}" for i in range(draw(st.integers(0, 2)))]
    innermost = draw(st.permutations([ids[back], *others]))
    if self_part and draw(st.integers(0, 3)):
        innermost.append("after")
    siblings = {level: [f"after{level}"] for level in range(len(ids) - 1)
                if draw(st.integers(0, 3) if level == back else st.booleans())}
    records = [nest(ids, innermost, siblings)]
    if draw(st.booleans()):
        records.append({"id": "elsewhere", "parts": ["free"]})
    records = draw(st.permutations(records))
    suffix = draw(st.sampled_from(FORMATS))
    shape = "self-part" if self_part else "cycle in a record"
    return shape, [(suffix, serialise(records, suffix))]


def cycle_records(ids: list[str], extra: bool) -> list[dict]:
    """ids[0] → ids[1] → … → ids[-1] → ids[0], one record each; ``extra``: the last one has
    another part after the one that closes the cycle."""
    records = [{"id": a, "parts": [b]} for a, b in zip(ids, ids[1:])]
    records.append({"id": ids[-1], "parts": [ids[0], *(["extra"] if extra else [])]})
    return records


@st.composite
def cycle_across_records(draw):
    ids = draw(chain_ids(2, 6))
    records = draw(st.permutations(cycle_records(ids, draw(st.integers(0, 3)) > 0)))
    suffix = draw(st.sampled_from(FORMATS))
    return "cycle across records", [(suffix, serialise(records, suffix))]


@st.composite
def split(draw, records: list[dict], files: int) -> list[tuple[str, bytes]]:
    """The records spread over ``files`` files (each at least one record), each its own format."""
    cuts = sorted(draw(st.lists(st.integers(1, len(records) - 1), min_size=files - 1,
                                max_size=files - 1, unique=True)))
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(records)]):
        suffix = draw(st.sampled_from(FORMATS))
        out.append((suffix, serialise(records[start:end], suffix)))
    return out


@st.composite
def cycle_across_files(draw):
    ids = draw(chain_ids(3, 6))
    records = draw(st.permutations(cycle_records(ids, draw(st.integers(0, 3)) > 0)))
    files = draw(st.integers(2, min(3, len(records))))
    return "cycle across files", draw(split(records, files))


@st.composite
def diamond(draw):
    """D1 ⊃ D2, D3 ⊃ D4 (a scene reached by two parents), mostly closed back to D1 by D4,
    with or without a further part; as records (in one to three files) or nested in one."""
    d1, d2, d3, d4 = draw(chain_ids(4, 4))
    close = draw(st.sampled_from([[], [d1], [d1], [d1, "D5"], [d1, "D5"], ["D5", d1]]))
    if draw(st.booleans()):
        records = [{"id": d1, "parts": [d2, d3]}, {"id": d2, "parts": [d4]},
                   {"id": d3, "parts": [d4]}, {"id": d4, "parts": close}]
        records = draw(st.permutations(records))
        files = draw(st.integers(1, 3))
        if files == 1:
            suffix = draw(st.sampled_from(FORMATS))
            return "diamond", [(suffix, serialise(records, suffix))]
        return "diamond", draw(split(records, files))
    inner = {"id": d4, "parts": close}
    nested = {"id": d1, "parts": [{"id": d2, "parts": [inner]}, {"id": d3, "parts": [d4]}]}
    suffix = draw(st.sampled_from(FORMATS))
    return "diamond", [(suffix, serialise([nested], suffix))]


def deep_text(depth: int, variant: str, bottom: str) -> str:
    """A record nested ``depth`` levels deep, written out as text (json.dumps would recurse);
    JSON that is also YAML (flow style)."""
    if variant == "parts":
        head = "".join(f'{{"id": "n{i}", "parts": [' for i in range(depth))
        return head + json.dumps(bottom) + "]}" * depth
    if variant == "lists":
        return '{"id": "deep", "components": {"agent": ' + "[" * depth + '"x"' + "]" * depth + "}}"
    return '{"id": "deep", "props": ' + '{"x": ' * depth + "1" + "}" * depth + "}"


@st.composite
def deep(draw):
    depth = draw(st.one_of(st.sampled_from([98, 99, 100, 101, 199, 200, 201, 1000, 5000]),
                           st.integers(1, 5000)))
    variant = draw(st.sampled_from(["parts", "parts", "lists", "objects"]))
    bottom = draw(st.sampled_from(["leaf", "n0", f"n{depth - 1}"]))  # a leaf or a cycle
    text = deep_text(depth, variant, bottom)
    suffix = draw(st.sampled_from(FORMATS))
    if suffix == ".json" and draw(st.booleans()):
        text = f"[{text}]"
    elif suffix in (".yaml", ".yml"):
        text = f"- {text}\n"
    return "deep nesting", [(suffix, text.encode("utf-8"))]


@st.composite
def long_line(draw):
    """A line of 1–5 MB (YAML, parsed whole before the first record: 100–500 KB, a list of at
    most 5,000 items) in a field, a list, an id, or as garbage; built from a drawn chunk so
    hypothesis draws a few choices, not megabytes."""
    suffix = draw(st.sampled_from(FORMATS))
    yaml_file = suffix in (".yaml", ".yml")
    size = draw(st.integers(100_000, 500_000) if yaml_file else st.integers(1_000_000, 5_000_000))
    chunk = draw(st.text(alphabet="жар ab\\\"'#:-{}[],\t", min_size=1, max_size=12))
    big = (chunk * (size // len(chunk) + 1))[:size]
    where = draw(st.sampled_from(["text", "text_human", "id", "list", "garbage"]))
    if where == "garbage":
        return "long line", [(suffix, big.encode("utf-8"))]
    if where == "list":
        items = max(1, size // (len(chunk) + 4))  # YAML: 5,000 items parse in about 0.4 s
        rec = {"id": "long", "archetypes": [chunk] * (min(items, 5_000) if yaml_file else items)}
    elif where == "text_human":
        rec = {"scene": "long", "text_human": big}
    else:
        rec = {"id": big} if where == "id" else {"id": "long", "text": big}
    return "long line", [(suffix, serialise([rec], suffix, wide=True))]


@st.composite
def many_records(draw):
    """5,000–20,000 small records (YAML, parsed whole before the first record: 500–1,500), a
    forest of parts, some closing a cycle."""
    suffix = draw(st.sampled_from(FORMATS))
    yaml_file = suffix in (".yaml", ".yml")
    count = draw(st.integers(500, 1_500) if yaml_file else st.integers(5_000, 20_000))
    records = [{"id": f"s{i}", "text": "a short text",
                "parts": [f"s{j}" for j in (2 * i + 1, 2 * i + 2) if j < count]}
               for i in range(count)]
    if draw(st.booleans()):  # a leaf names the root, then another part
        records[-1]["parts"] = ["s0", "extra"]
    return "many records", [(suffix, serialise(records, suffix))]


def inputs(valid_records: list[dict]) -> st.SearchStrategy:
    """Everything in the mix: about a third cyclic shapes; one in sixty or so deep, long or
    many, one in ten of those many records (hypothesis does not draw ``sampled_from`` evenly,
    so the cuts are set by measure)."""
    common = corpus_files(valid_records)
    cyclic = st.one_of(cycle_in_record(), cycle_in_record(self_part=True), cycle_across_records(),
                       cycle_across_files(), diamond())
    rare = st.sampled_from(range(10)).flatmap(  # many records cost the most time: fewer
        lambda n: many_records() if n == 0 else long_line() if n < 4 else deep())
    return st.sampled_from(range(200)).flatmap(  # integers() would favour the ends
        lambda n: rare if n < 10 else cyclic if n < 90 else common)


def issue_examples() -> list[tuple[str, list[tuple[str, bytes]]]]:
    """The inputs issue 13 names, tried first in every run."""
    cyc = {"id": "A", "parts": [{"id": "B", "parts": ["A"]}, "C"]}
    self_deep = {"id": "R", "parts": [
        {"id": "X", "parts": [{"id": "Y", "parts": ["Y", "Z"]}]}, "W"]}
    pqs = [{"id": "P", "parts": ["Q"]}, {"id": "Q", "parts": ["S"]},
           {"id": "S", "parts": ["P", "T"]}]
    diamond_yaml = (b"- {id: D1, parts: [D2, D3]}\n- {id: D2, parts: [D4]}\n"
                    b"- {id: D3, parts: [D4]}\n- {id: D4, parts: [D1]}\n")
    diamond_more = diamond_yaml.replace(b"[D1]", b"[D1, D5]")
    deep_5000 = deep_text(5000, "parts", "leaf")
    self_part = "issue: self-part deep in a tree, then a sibling"
    out = [(f"issue: cycle in a record ({sfx})", [(sfx, serialise([cyc], sfx))])
           for sfx in (".jsonl", ".json", ".yaml")]
    out += [(self_part, [(".jsonl", serialise([self_deep], ".jsonl"))]),
            (self_part, [(".yaml", serialise([self_deep], ".yaml"))]),
            ("issue: cycle P→Q→S→P across records, S has another part",
             [(".jsonl", serialise(pqs, ".jsonl"))]),
            ("issue: cycle P→Q→S→P across files", [(".jsonl", serialise(pqs[:1], ".jsonl")),
                                                     (".yaml", serialise(pqs[1:2], ".yaml")),
                                                     (".json", serialise(pqs[2:], ".json"))]),
            ("issue: YAML diamond D1→D2,D3→D4→D1", [(".yaml", diamond_yaml)]),
            ("issue: YAML diamond D1→D2,D3→D4→D1, D4 has another part", [(".yaml", diamond_more)]),
            ("issue: 5,000 nested parts (JSON)", [(".json", deep_5000.encode())]),
            ("issue: 5,000 nested parts (JSONL)", [(".jsonl", deep_5000.encode())]),
            ("issue: 5,000 nested parts (YAML)", [(".yaml", f"- {deep_5000}\n".encode())])]
    return out


# -- the child process: the loader's work ------------------------------------------------------


def read_and_check(paths: list[Path], builder_class: type = CorpusBuilder) -> None:
    """What ``load_corpus`` does before writing: read every file, check every record, build."""
    builder = builder_class()
    problems = []
    for path in paths:
        try:
            for raw in read_records(path):
                problems += builder.add(raw)
        except CorpusError as exc:
            problems += exc.problems
    if problems:
        raise CorpusError(problems)
    builder.corpus.batch()


def documented(exc: CorpusError) -> bool:
    return bool(exc.problems) and all(
        isinstance(line, str) and "\n" not in line and (PROBLEM.match(line) or SUMMARY.match(line))
        for line in exc.problems)


def attempt(action) -> tuple:
    """("taken",), ("refused",) as documented, or ("crash", kind)."""
    try:
        action()
        return ("taken",)
    except CorpusError as exc:
        if documented(exc):
            return ("refused",)
        return ("crash", f"CorpusError with a badly shaped problem: {exc.problems[:2]}"[:300])
    except Exception as exc:  # noqa: BLE001 — any other exception is what we look for
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
        ours = [f for f in frames if f"{os.sep}scenegraph{os.sep}" in f.filename]
        if ours and ours[-1] is not frames[-1]:  # and the last of our frames on the way there
            where += f" from {Path(ours[-1].filename).name}:{ours[-1].lineno}"
        return ("crash", f"{type(exc).__module__}.{type(exc).__name__} at {where}")


def worker(conn, beat, store_dir: str, stack_file: str) -> None:
    """Takes (paths, with_store) jobs until None; answers ("check", outcome) and, with the
    store, ("store", outcome). ``beat`` (shared with the parent) holds the wall time and this
    process's CPU time at the last progress: a record checked, or a batch written."""
    import scenegraph.load

    def progress(*_) -> None:
        beat[0], beat[1] = time.monotonic(), time.process_time()

    class Builder(CorpusBuilder):
        def add(self, raw):
            try:
                return super().add(raw)
            finally:
                progress()

    scenegraph.load.CorpusBuilder = Builder  # this child only: load_corpus beats per record too
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle
    with open(stack_file, "w") as stack:
        faulthandler.register(signal.SIGUSR1, file=stack, all_threads=False)
        store = None
        while (job := conn.recv()) is not None:
            paths, with_store = job
            progress()
            conn.send(("check", attempt(functools.partial(read_and_check, paths, Builder))))
            if with_store:
                progress()
                if store is None:
                    store = LadybugStore(Path(store_dir))
                load = functools.partial(load_corpus, store, paths, progress=progress)
                conn.send(("store", attempt(load)))
        if store is not None:
            store.close()


# -- the parent: workers, time limits, tallies -------------------------------------------------


@dataclass
class Job:
    index: int
    shape: str
    files: list[tuple[str, bytes]]  # kept only until the worker is done with them
    folder: Path
    with_store: bool
    stage: str = "check"
    since: float = 0.0  # when the stage began, wall time
    since_cpu: float = 0.0  # and the worker's CPU time then
    outcomes: list[tuple] = field(default_factory=list)

    def describe(self) -> str:
        return f"#{self.index} {self.shape}: " + "; ".join(
            f"{sfx} ({len(data):,} bytes) {data[:100]!r}" for sfx, data in self.files)


class Slot:
    """One child process and the job it is on."""

    def __init__(self, ctx, workdir: Path, number: int):
        self.stack_file = workdir / f"worker-{number}.stack"
        self.conn, child = ctx.Pipe()
        self.beat = ctx.Array("d", 2, lock=False)  # wall, CPU at the last progress
        self.process = ctx.Process(target=worker, daemon=True, args=(
            child, self.beat, str(workdir / f"store-{number}"), str(self.stack_file)))
        self.process.start()
        child.close()
        self.job: Job | None = None

    def cpu(self) -> float | None:
        """The child's CPU time (user + system, all threads), from /proc; None elsewhere."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) "
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK

    def start(self, stage: str) -> None:
        self.job.stage, self.job.since = stage, time.monotonic()
        self.job.since_cpu = self.cpu() or 0.0

    def overdue(self, limit: float) -> str | None:
        """Why this job's stage counts as hung now, or None."""
        job, now, cpu = self.job, time.monotonic(), self.cpu()
        if now - max(job.since, self.beat[0]) >= TOTAL_LIMITS * limit:
            return f"no progress for {TOTAL_LIMITS * limit:g} s"
        if cpu is None:  # no /proc: wall time only
            stalled = now - max(job.since, self.beat[0]) >= limit
            return f"no progress for {limit:g} s" if stalled else None
        if cpu - max(job.since_cpu, self.beat[1]) >= limit:
            return f"no progress for {limit:g} s of CPU"
        if cpu - job.since_cpu >= TOTAL_LIMITS * limit:
            return f"over {TOTAL_LIMITS * limit:g} s of CPU in all"
        return None

    def stop(self) -> None:
        with suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def hung_at(self) -> str:
        """Where the child is stuck: the innermost frame of its faulthandler dump."""
        size = self.stack_file.stat().st_size if self.stack_file.exists() else 0
        try:
            os.kill(self.process.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return "?"
        for _ in range(150):  # the dump is written by a C signal handler: soon, on a calm machine
            time.sleep(0.02)
            if self.stack_file.exists() and self.stack_file.stat().st_size > size:
                break
        time.sleep(0.05)
        exists = self.stack_file.exists()
        dump = self.stack_file.read_text("utf-8", "replace")[size:] if exists else ""
        frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', dump)  # innermost first
        if not frames:
            return "?"
        ours = [f for f in frames if f"{os.sep}scenegraph{os.sep}" in f[0]] or frames
        return f"{Path(ours[0][0]).name} ({ours[0][2]})"  # lines vary within a loop


class Fuzz:
    def __init__(self, workdir: Path, store_every: int, limit: float, workers: int,
                 save_examples: Path | None = None):
        self.workdir, self.store_every, self.limit = workdir, store_every, limit
        self.save_examples = save_examples
        self.ctx = multiprocessing.get_context("fork")  # a copy of this process: no re-import
        self.started = 0
        self.slots = [self._new_slot() for _ in range(workers)]
        self.tried = self.passed = self.taken = self.refused = self.stored = 0
        self.crashes: Counter[str] = Counter()  # kind of crash -> inputs
        self.hangs: Counter[str] = Counter()  # where it hung -> inputs
        self.examples: dict[str, tuple[int, str]] = {}  # kind -> the first input that showed it
        self.shapes: Counter[str] = Counter()
        self.bad_shapes: Counter[str] = Counter()  # shape -> inputs that crashed or hung

    def _new_slot(self) -> Slot:
        self.started += 1
        return Slot(self.ctx, self.workdir, self.started)

    # submitting -----------------------------------------------------------------------

    def one(self, shape: str, files: list[tuple[str, bytes]]) -> None:
        """Queue one input (waits while every worker is busy)."""
        self.tried += 1
        self.shapes[shape] += 1
        folder = self.workdir / "inputs" / str(self.tried)
        folder.mkdir(parents=True)
        paths = []
        for number, (suffix, data) in enumerate(files):
            path = folder / f"corpus{number}{suffix}"
            path.write_bytes(data)
            paths.append(path)
        with_store = self.tried % self.store_every == 0
        job = Job(self.tried, shape, files, folder, with_store)
        while not (free := [s for s in self.slots if s.job is None]):
            self._wait()
        slot = free[0]
        slot.job = job
        slot.start("check")
        try:
            slot.conn.send((paths, with_store))
        except OSError:  # the worker died between jobs
            self._died(slot)

    def drain(self) -> None:
        while any(s.job for s in self.slots):
            self._wait()

    def close(self) -> None:
        self.drain()
        for slot in self.slots:
            slot.stop()

    # waiting --------------------------------------------------------------------------

    def _wait(self) -> None:
        busy = [s for s in self.slots if s.job]
        ready = wait_for([s.conn for s in busy], timeout=min(0.5, self.limit / 4))
        for slot in busy:
            if slot.conn in ready:
                try:
                    stage, outcome = slot.conn.recv()
                except (EOFError, OSError):
                    self._died(slot)
                    continue
                self._answer(slot, stage, outcome)
            elif why := slot.overdue(self.limit):
                self._hung(slot, why)

    def _answer(self, slot: Slot, stage: str, outcome: tuple) -> None:
        job = slot.job
        job.outcomes.append((stage, outcome))
        if stage == "check":
            self.taken += outcome[0] == "taken"
            self.refused += outcome[0] == "refused"
        else:
            self.stored += 1
        if stage == "check" and job.with_store:  # the store step gets its own time limit
            slot.start("store")
            return
        self._finish(slot)

    def _hung(self, slot: Slot, why: str) -> None:
        job = slot.job
        where = slot.hung_at()
        step = "read_and_check" if job.stage == "check" else "load_corpus"
        self._note(self.hangs, f"{step}: {why} at {where}", job)
        self._replace(slot)

    def _died(self, slot: Slot) -> None:
        slot.process.join(timeout=5)
        job = slot.job
        if job is not None:
            kind = f"worker died (exit {slot.process.exitcode}) in {job.stage}"
            self._note(self.crashes, kind, job)
        self._replace(slot)

    def _replace(self, slot: Slot) -> None:
        job = slot.job
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join()
        slot.conn.close()
        self.slots[self.slots.index(slot)] = self._new_slot()
        if job is not None:
            job.outcomes.append((job.stage, ("failed",)))
            self._done(job)

    def _finish(self, slot: Slot) -> None:
        job = slot.job
        slot.job = None
        for stage, outcome in job.outcomes:
            if outcome[0] == "crash":
                step = "read_and_check" if stage == "check" else "load_corpus"
                self._note(self.crashes, f"{step}: {outcome[1]}", job)
        self._done(job)

    def _done(self, job: Job) -> None:
        ok = all(outcome[0] in ("taken", "refused") for _, outcome in job.outcomes)
        self.passed += ok
        self.bad_shapes[job.shape] += not ok
        shutil.rmtree(job.folder, ignore_errors=True)
        job.files = []

    def _note(self, tally: Counter, kind: str, job: Job) -> None:
        tally[kind] += 1
        if kind not in self.examples or job.index < self.examples[kind][0]:
            self.examples[kind] = (job.index, job.describe())
            if self.save_examples:
                target = self.save_examples / f"{len(self.examples):03d}"
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(job.folder, target)
                (target / "KIND.txt").write_text(kind + "\n", "utf-8")


def run(examples: int, store_every: int, seed_value: int, limit: float, workers: int,
        save_examples: Path | None = None) -> Fuzz:
    valid_records = synth_records()
    with tempfile.TemporaryDirectory(prefix="fuzz-loader-") as tmp:
        fuzz = Fuzz(Path(tmp), store_every, limit, workers, save_examples)
        try:
            for shape, files in issue_examples():
                fuzz.one(shape, files)
            rest = max(0, examples - fuzz.tried)

            @seed(seed_value)
            @settings(max_examples=max(rest, 1), deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(st.data())
            def trial(data):
                shape, files = data.draw(inputs(valid_records))
                if fuzz.tried < examples:
                    fuzz.one(shape, files)

            if rest:
                trial()
        finally:
            fuzz.close()
    return fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000,
                        help="Inputs in all, the issue's cases included.")
    parser.add_argument("--store-every", type=int, default=100,
                        help="Every Nth input is also loaded into a real store.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=float, default=LIMIT_S,
                        help="CPU seconds a step of an input may use without progress (a "
                             "record checked, a batch written) before it counts as a hang; "
                             f"{TOTAL_LIMITS}× that in all, or without progress in wall time.")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="Child processes running the loader.")
    parser.add_argument("--save-examples", type=Path,
                        help="Copy the first input of each kind of crash or hang here.")
    args = parser.parse_args()
    if args.save_examples:
        args.save_examples.mkdir(parents=True, exist_ok=True)
    with stopwatch() as elapsed:
        fuzz = run(args.examples, args.store_every, args.seed, args.limit, args.workers,
                   args.save_examples)
    for label, tally in (("CRASH", fuzz.crashes), ("HANG", fuzz.hangs)):
        for kind, count in tally.most_common():
            print(f"{label} ×{count}: {kind}; first input: {fuzz.examples[kind][1]}")
    print("shapes (inputs, of them crashed or hung): " + ", ".join(
        f"{shape} {count}/{fuzz.bad_shapes[shape]}" for shape, count in fuzz.shapes.most_common()))
    report([Result("loader fuzz: inputs without a crash or hang", fuzz.passed, fuzz.tried, "inputs",
                   1.0, note=f"{fuzz.taken} taken, {fuzz.refused} refused, "
                             f"{fuzz.stored} through a real store, "
                             f"{sum(fuzz.crashes.values())} crashes, "
                             f"{sum(fuzz.hangs.values())} hangs, "
                             f"limit {fuzz.limit:g}s (CPU without progress; "
                             f"{TOTAL_LIMITS * fuzz.limit:g}s in all), {len(fuzz.slots)} workers, "
                             f"{elapsed[0]:.0f} s")])


if __name__ == "__main__":
    main()
