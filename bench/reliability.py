"""SIGKILL at random points during `load`, `embed`, `generate` (template) and `export`, then a
re-run: the store, the vector index and the export must equal those of an uninterrupted run.

Each stage gets a reference run and ``--trials`` kill-and-rerun trials (the machinery is
tests/test_reliability.py's, which runs two per stage). Our figure is the trials that converged,
the baseline the trials run, so the target ratio is 1.0.

    python bench/reliability.py [--trials 10] [--scenes 3000] [--seed 1] [--stages load,embed]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import Result, report, stopwatch
from chat_server import ChatServer
from test_reliability import Stages, kill_trials

STAGES = ("load", "embed", "generate", "export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="Kill trials per stage.")
    parser.add_argument("--scenes", type=int, default=3000, help="Scenes in the corpus.")
    parser.add_argument("--generate-limit", type=int, default=500,
                        help="Scenes `generate` expresses (in 3 styles each).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp, \
            ChatServer(latency_ms=20) as server:
        stages = Stages(Path(tmp), args.scenes, server.base_url, args.generate_limit)
        for offset, name in enumerate(args.stages.split(",")):
            workdir = Path(tmp) / f"trials-{name}"
            with stopwatch() as elapsed:
                trials = kill_trials(getattr(stages, name)(), workdir, args.trials,
                                     args.seed * 100 + offset)
            for failure in trials.failures:
                print(f"{name}: {failure}")
            results.append(Result(
                f"sigkill {name}: runs equal to uninterrupted", trials.converged, trials.trials,
                "trials", 1.0,
                note=f"{trials.interrupted} killed mid-run, {args.scenes} scenes, "
                     f"{elapsed[0]:.0f} s"))
    report(results)


if __name__ == "__main__":
    main()
