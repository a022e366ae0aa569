"""Wall-clock timings of the CLI as a member would run it.

1. `huayi index --rebuild` of the whole knowledge base into a fresh data directory.
2. A cold `huayi ask` (new process, index on disk), in Chinese and in English,
   repeated to show the spread.
3. `huayi index` again with nothing changed (the incremental no-op).

Run: `python benchmarks/rag_timings.py [--data-dir DIR] [--cold-runs N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"huayi {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="huayi-bench-"))
    env = dict(os.environ, HUAYI_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)

    full = _run(["index", "--rebuild"], env)
    print(f"huayi index --rebuild (whole knowledge base): {full:.1f} s")
    noop = _run(["index"], env)
    print(f"huayi index (nothing changed):                {noop:.1f} s")
    for label, question in (("zh", "牡丹插瓶能放几天？"), ("en", "How long do peonies last in a vase?")):
        colds = [_run(["ask", question, "--json"], env) for _ in range(args.cold_runs)]
        runs = ", ".join(f"{c:.1f}" for c in colds)
        print(f"cold huayi ask ({label}): median {statistics.median(colds):.1f} s (runs: {runs})")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    print(f"  for scale, `python -c 'import torch'` alone: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
