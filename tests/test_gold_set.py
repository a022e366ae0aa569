"""The evaluation gold set is well-formed and every expected fact is really in its source."""

from __future__ import annotations

import json
from collections import Counter

import frontmatter

from .conftest import KB_DIR, ROOT

GOLD = [
    json.loads(line)
    for path in sorted((ROOT / "tests" / "eval" / "gold").glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def _bodies() -> dict[tuple[str, str], str]:
    out = {}
    for path in KB_DIR.rglob("*.md"):
        post = frontmatter.load(path)
        out[(post["id"], post["lang"])] = post.content
    return out


def test_gold_set_size() -> None:
    counts = Counter((row["lang"], row["ood"]) for row in GOLD)
    assert len(GOLD) >= 120
    assert counts[("zh", False)] >= 50 and counts[("en", False)] >= 50
    assert counts[("zh", True)] + counts[("en", True)] >= 15
    assert len({row["qid"] for row in GOLD}) == len(GOLD)


def test_gold_facts_are_verbatim_in_their_sources() -> None:
    bodies = _bodies()
    for row in GOLD:
        assert row["lang"] in {"zh", "en"} and row["question"].strip()
        if row["ood"]:
            assert row["facts"] == [] and row["sources"] == []
            continue
        assert row["facts"] and row["sources"], row["qid"]
        texts = [bodies[(s, row["lang"])] for s in row["sources"]]
        for fact in row["facts"]:
            assert any(alt in text for alt in fact for text in texts), f"{row['qid']}: {fact} not in {row['sources']}"
