"""Counting a round's votes and picking its winner (Discord-free)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["count_votes", "pick_winner"]


def count_votes(choices: Iterable[int], candidates: int) -> list[int]:
    """Votes per candidate (index 0 is candidate 1); a vote for a candidate that no longer exists is ignored."""
    counts = [0] * candidates
    for choice in choices:
        if 1 <= choice <= candidates:
            counts[choice - 1] += 1
    return counts


def pick_winner(counts: list[int]) -> int:
    """The 1-based candidate with the most votes; a tie (including no votes at all) goes to the earliest."""
    if not counts:
        raise ValueError("a round without candidates has no winner")
    best = max(counts)
    return counts.index(best) + 1
