"""Shared by the bench scripts: a timer, peak memory, and one way to report a scenario.

Each script measures our path and the raw library doing the same work in the same run, then
calls ``report``. It prints a table for people and one ``BENCH {json}`` line per scenario that
``bench/run_all.py`` (``make bench``) gathers into one table.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


@dataclass
class Result:
    """One scenario: our figure and the raw baseline's, in the same unit.

    ``target`` is the least acceptable ours/raw ratio when higher is better (throughput), or
    the most acceptable one when lower is better (time, memory).
    """

    scenario: str
    ours: float
    raw: float
    unit: str
    target: float
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw else float("inf")

    @property
    def holds(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: …`` then ``t[0]`` is the elapsed wall time in seconds."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux ``VmHWM``): its own, where
    ``ru_maxrss`` would carry a parent's peak over ``exec``; ``reset_peak_rss`` restarts it."""
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def report(results: list[Result]) -> None:
    width = max(len(r.scenario) for r in results)
    print(f"{'scenario':<{width}}  {'ours':>12}  {'raw':>12}  {'ratio':>7}  target  holds")
    for r in results:
        sign = ">=" if r.higher_is_better else "<="
        print(f"{r.scenario:<{width}}  {r.ours:>12.4g}  {r.raw:>12.4g}  {r.ratio:>7.3f}  "
              f"{sign}{r.target:<5}  {'yes' if r.holds else 'NO'}   {r.unit} {r.note}")
    for r in results:
        print("BENCH " + json.dumps({**asdict(r), "ratio": r.ratio, "holds": r.holds},
                                    ensure_ascii=False))
