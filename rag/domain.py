"""Topics Huayi must decline even when a word happens to be a flower name.

"What is Tesla's stock price?" contains *stock* (Matthiola), "股价" contains nothing
floral: both are off-topic. A short list of unmistakable off-topic cues guards the
retrieval thresholds against such homonyms.
"""

from __future__ import annotations

import re

__all__ = ["off_topic"]

_OFF_TOPIC = re.compile(
    r"股价|股市|股票|指数|基金|比特币|加密货币|汇率|代码|编程|程序|爬虫|Python|Java|C\+\+|选举|大选|总统|政党|政治|"
    r"stock (?:price|market|exchange)|share price|shares? of|bitcoin|crypto|exchange rate|"
    r"\bcode\b|programm|javascript|python|java\b|compile|election|president|politic|parliament",
    re.I,
)


def off_topic(question: str) -> bool:
    return bool(_OFF_TOPIC.search(question))
