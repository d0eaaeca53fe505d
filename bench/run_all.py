"""`make bench`: run every bench script and print one table of all scenarios.

Each script prints `BENCH {json}` lines (see _common.report); this gathers them. Extra
arguments for a script go in the environment variable BENCH_ARGS_<NAME> (for example
BENCH_ARGS_INGEST="--scenes 5000").

    python bench/run_all.py [name ...]
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = {"run_all", "synth"}  # synth.py writes corpora for the scenarios; it measures nothing


def scripts(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.stem not in HELPERS)
    return [p for p in found if not names or p.stem in names]


def run(script: Path) -> tuple[list[dict], str]:
    args = shlex.split(os.environ.get(f"BENCH_ARGS_{script.stem.upper()}", ""))
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    rows = [json.loads(line[6:]) for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    return rows, f"{script.name}: {status} in {time.monotonic() - start:.0f}s"


def main() -> int:
    results, notes = [], []
    for script in scripts(sys.argv[1:]):
        print(f"running {script.name} …", file=sys.stderr, flush=True)
        rows, note = run(script)
        results += rows
        notes.append(note)
    width = max([len(r["scenario"]) for r in results] + [8])
    print(f"{'scenario':<{width}}  {'ours':>11}  {'raw':>11}  {'ratio':>7}  {'target':>8}  holds  unit")
    for r in results:
        sign = ">=" if r["higher_is_better"] else "<="
        print(f"{r['scenario']:<{width}}  {r['ours']:>11.4g}  {r['raw']:>11.4g}  {r['ratio']:>7.3f}  "
              f"{sign + str(r['target']):>8}  {'yes' if r['holds'] else 'NO':<5}  {r['unit']}  {r['note']}")
    print("\n".join(notes))
    return 0 if all(note.split(": ")[1].startswith("ok") for note in notes) else 1


if __name__ == "__main__":
    sys.exit(main())
