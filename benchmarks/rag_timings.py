"""Wall-clock timings of the CLI as a member would run it.

1. `huayi index --rebuild` of the whole knowledge base into a fresh data directory.
2. A cold `huayi ask` (new process, index on disk), in Chinese and in English,
   repeated to show the spread.
3. `huayi index` again with nothing changed (the incremental no-op).
4. The compute floor of a full index on this CPU: the word pieces the embedder must
   process times its FLOPs per word piece, over this CPU's measured matmul rate.
   No implementation of the same model can embed the base faster than that.
5. How much CPU the machine actually gave: the share of a busy Python loop lost to
   pauses of 50 ms or more, before and after the runs. A shared VM can pause a busy
   process for hundreds of milliseconds at a time; compare timings only between runs
   whose pause share is similar (0 % on a dedicated machine).

Run: `python benchmarks/rag_timings.py [--data-dir DIR] [--index-runs N] [--cold-runs N]`.
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


def _compute_floor(data_dir: Path) -> None:
    import json

    import numpy as np

    from bot.services import Services
    from bot.settings import load_settings
    from rag.embeddings import resolve_model_path

    services = Services(load_settings(data_dir=data_dir))
    index = services.index(auto_build=False)
    embeddings, view = services.embeddings, services.dense_view
    tokens = sum(min(embeddings.count_tokens(view.document(c)), embeddings.max_tokens) for c in index.store.chunks.values())
    config = json.loads((Path(resolve_model_path(embeddings.model_name)) / "config.json").read_text(encoding="utf-8"))
    h, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    flops_per_token = 2 * layers * (4 * h * h + 2 * h * inner)
    engine = embeddings.bulk_engine
    if engine.startswith("torch-"):
        import torch

        dtype = getattr(torch, engine.removeprefix("torch-"))
        a, b = torch.rand(4096, h, dtype=dtype), torch.rand(inner, h, dtype=dtype)
        multiply = lambda: torch.nn.functional.linear(a, b)  # noqa: E731
    else:
        a, b = np.random.default_rng(0).random((4096, h), dtype=np.float32), np.random.default_rng(1).random((h, inner), dtype=np.float32)
        multiply = lambda: a @ b  # noqa: E731
    multiply()
    start = time.perf_counter()
    for _ in range(5):
        multiply()
    gflops = 5 * 2 * 4096 * h * inner / (time.perf_counter() - start) / 1e9
    floor = tokens * flops_per_token / (gflops * 1e9)
    print(
        f"embedding floor: {tokens:,} word pieces x {flops_per_token / 1e6:.1f} MFLOP = "
        f"{tokens * flops_per_token / 1e12:.2f} TFLOP; {engine} matmul here {gflops:.0f} GFLOPS "
        f"-> at least {floor:.1f} s of pure matmul for a full index"
    )


def _pause_share(seconds: float = 4.0) -> float:
    """Fraction of `seconds` of busy work lost to pauses of 50 ms or more (the machine, not our code)."""
    lost, start = 0.0, time.perf_counter()
    last = start
    while last - start < seconds:
        total = 0
        for i in range(20_000):
            total += i
        now = time.perf_counter()
        if now - last > 0.05:
            lost += now - last
        last = now
    return lost / (last - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--index-runs", type=int, default=3, help="full rebuilds to time (median reported)")
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="huayi-bench-"))
    env = dict(os.environ, HUAYI_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)

    print(f"machine pauses before the runs: {_pause_share():.0%} of a busy loop")
    fulls = [_run(["index", "--rebuild"], env) for _ in range(max(1, args.index_runs))]
    runs = ", ".join(f"{f:.1f}" for f in fulls)
    print(f"huayi index --rebuild (whole knowledge base): median {statistics.median(fulls):.1f} s (runs: {runs})")
    noop = _run(["index"], env)
    print(f"huayi index (nothing changed):                {noop:.1f} s")
    for label, question in (("zh", "牡丹插瓶能放几天？"), ("en", "How long do peonies last in a vase?")):
        colds = [_run(["ask", question, "--json"], env) for _ in range(args.cold_runs)]
        runs = ", ".join(f"{c:.1f}" for c in colds)
        print(f"cold huayi ask ({label}): median {statistics.median(colds):.1f} s (runs: {runs})")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    print(f"  for scale, `python -c 'import torch'` alone: {time.perf_counter() - start:.1f} s")
    sys.path.insert(0, str(root))
    _compute_floor(data_dir)
    print(f"machine pauses after the runs: {_pause_share():.0%} of a busy loop")


if __name__ == "__main__":
    main()
