"""Question aspects: what a member asks *about* a subject (vase life, toxicity, meaning…).

Flower and foliage articles share fixed section headings, so knowing the aspect of a
question tells retrieval which section answers it and tells the extractive answerer
what an answering sentence looks like (a number of days, a month, a toxicity verdict).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Aspect", "ASPECTS", "detect_aspects", "english_heading"]


@dataclass(frozen=True)
class Aspect:
    name: str
    question: re.Pattern[str]
    heading_zh: str
    heading_en: str
    sentence: re.Pattern[str] | None = None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"

ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        "vase_life",
        _re(r"几天|多久|多长时间|能放|能撑|能开|保鲜|瓶插期|瓶插寿命|寿命|持久|how long|last|vase life|longevity|keep .*fresh"),
        "瓶插寿命与处理",
        "Vase life and conditioning",
        _re(r"\d+\s*(?:[～~\-–到至]\s*\d+\s*)?(?:天|周|星期|个月|days?|weeks?)"),
    ),
    Aspect(
        "conditioning",
        _re(r"处理|修剪|剪|吸水|醒花|切口|烫|烧|冷库|冰箱|换水|加水|泡水|蔫|救|condition|trim|\bcut|hydrat|revive|sear|fridge|cooler|droop|wilt|stems?\b|water"),
        "瓶插寿命与处理",
        "Vase life and conditioning",
    ),
    Aspect(
        "toxicity",
        _re(r"毒|猫|狗|宠物|孩子|小孩|儿童|误食|吃了|啃|toxic|poison|\bcats?\b|\bdogs?\b|\bpets?\b|child|kids?\b|safe|dangerous|chew|eat"),
        "毒性",
        "Toxicity",
        _re(r"毒|toxic|poison|ASPCA|safe"),
    ),
    Aspect(
        "symbolism",
        _re(r"花语|象征|寓意|代表|含义|意义|意思|讲究|品格|说法|symbol|meaning|\bmean|represent|signif|victorian|language of flowers|story|legend"),
        "花语与象征",
        "Symbolism",
    ),
    Aspect(
        "season",
        _re(r"几月|什么时候开|花期|季节|开花|上市|哪个月|when .*(?:bloom|flower|open|season|available|in season)|\bseason|month|bloom"),
        "花期与花色",
        "Season and colours",
        _re(rf"\d+\s*(?:[～~\-–到至]\s*\d+\s*)?月|{_MONTHS}|spring|summer|autumn|winter|春|夏|秋|冬"),
    ),
    Aspect("colours", _re(r"颜色|花色|什么色|colou?rs?"), "花期与花色", "Season and colours"),
    Aspect(
        "use",
        _re(r"插花里|花束里|作品里|搭配|角色|怎么用|用法|当什么|作用|花材|用在|适合.*(?:风格|场合)|\buse\b|role|pair|combine|add to|go with|in (?:a|my) (?:bouquet|arrangement)|wedding"),
        "插花应用",
        "In arrangements",
    ),
    Aspect(
        "names",
        _re(r"学名|拉丁|别名|叫什么|名字|哪个科|什么科|latin|scientific|botanical|other names?|called|which family"),
        "名称",
        "Names",
    ),
)

_HEADING_EN = {a.heading_zh: a.heading_en for a in ASPECTS}


def detect_aspects(question: str) -> list[Aspect]:
    return [a for a in ASPECTS if a.question.search(question)]


def english_heading(heading: str) -> str:
    """The English name of a standard Chinese section heading ('' when not standard)."""
    return _HEADING_EN.get(heading.split(" > ")[0], "")
