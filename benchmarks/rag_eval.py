"""Retrieval and answer quality on the gold set, per language and retrieval mode.

Prints recall@5, MRR@10, the fact-hit rate of answers and the out-of-domain abstention
rate for dense-only, BM25-only and hybrid retrieval, then the warm p50/p95 latency of
`ask`. Run: `python benchmarks/rag_eval.py [--data-dir DIR] [--modes hybrid,dense,bm25]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services import Services  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from rag.conversation import contextualise  # noqa: E402
from rag.text import clean_text  # noqa: E402

GOLD_DIR = ROOT / "tests" / "eval" / "gold"


def load_gold(directory: Path = GOLD_DIR) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


_EQUIVALENT = str.maketrans({"～": "-", "~": "-", "–": "-", "—": "-", "至": "-", "到": "-", "℃": "°c"})


def _norm(text: str) -> str:
    """Case, spaces, range dashes (3～5 = 3–5 = 3到5) and ℃/°C are not part of a fact."""
    return clean_text(text).lower().replace(" ", "").translate(_EQUIVALENT)


def fact_hit(answer: str, facts: list[list[str]]) -> bool:
    text = _norm(answer)
    return all(any(_norm(alt) in text for alt in fact) for fact in facts)


def evaluate(services: Services, gold: list[dict], mode: str, verbose: bool = False) -> dict[str, dict[str, float]]:
    rag = services.rag()
    stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in gold:
        asked = rag.ask_detailed(row["question"], mode=mode)  # type: ignore[arg-type]
        lang = row["lang"]
        if row["ood"]:
            stats[lang]["abstain"].append(float(asked.answer.abstained))
            if verbose and not asked.answer.abstained:
                print(f"  [{mode}] OOD answered: {row['qid']} {row['question']}")
            continue
        query = contextualise(row["question"], [], services.glossary)
        hits = rag.searcher.search(query, mode=mode, lang=asked.answer.lang, top_k=30).hits  # type: ignore[arg-type]
        docs = list(dict.fromkeys(h.chunk.doc_id for h in hits))[:10]
        rank = next((i + 1 for i, d in enumerate(docs) if d in row["sources"]), None)
        stats[lang]["recall@5"].append(float(rank is not None and rank <= 5))
        stats[lang]["mrr@10"].append(1.0 / rank if rank else 0.0)
        hit = fact_hit(asked.answer.text, row["facts"])
        stats[lang]["fact_hit"].append(float(hit))
        stats[lang]["false_abstain"].append(float(asked.answer.abstained))
        if verbose and not hit:
            print(f"  [{mode}] miss {row['qid']} rank={rank} {row['question']} facts={row['facts']}\n      -> {asked.answer.text[:300]}")
    return {lang: {k: statistics.fmean(v) for k, v in metrics.items()} for lang, metrics in stats.items()}


def latency(services: Services, gold: list[dict], rounds: int = 1) -> tuple[float, float]:
    rag = services.rag()
    rag.ask(gold[0]["question"])
    samples = []
    for _ in range(rounds):
        for row in gold:
            start = time.perf_counter()
            rag.ask(row["question"])
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="HUAYI_DATA_DIR to use (index built if missing)")
    parser.add_argument("--modes", default="dense,bm25,hybrid")
    parser.add_argument("--verbose", action="store_true", help="print every missed question")
    args = parser.parse_args()
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    services = Services(load_settings(**overrides))
    gold = load_gold()
    n = defaultdict(int)
    for row in gold:
        n[(row["lang"], row["ood"])] += 1
    print(f"gold set: {len(gold)} questions — " + ", ".join(f"{l}{' ood' if o else ''}: {c}" for (l, o), c in sorted(n.items())))
    print(f"{'mode':<8}{'lang':<5}{'recall@5':>10}{'MRR@10':>9}{'fact-hit':>10}{'OOD abstain':>13}{'false abstain':>15}")
    for mode in args.modes.split(","):
        results = evaluate(services, gold, mode, args.verbose)
        for lang in ("zh", "en"):
            m = results.get(lang, {})
            print(
                f"{mode:<8}{lang:<5}{m.get('recall@5', 0):>10.1%}{m.get('mrr@10', 0):>9.3f}{m.get('fact_hit', 0):>10.1%}"
                f"{m.get('abstain', 0):>13.1%}{m.get('false_abstain', 0):>15.1%}"
            )
    p50, p95 = latency(services, gold)
    print(f"warm ask latency (hybrid, extractive): p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(gold)} questions")


if __name__ == "__main__":
    main()
