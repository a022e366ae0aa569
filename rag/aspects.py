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
    heading_zh: str = ""
    heading_en: str = ""
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
        _re(r"花语|象征|寓意|代表|含义|意义|意思|讲究|品格|说法|节日|送人|送礼|送给|为什么.*送|symbol|meaning|\bmean|represent|stands? for|signif|victorian|language of flowers|story|legend"),
        "花语与象征",
        "Symbolism",
        _re(r"象征|寓意|代表|意味|花语|比喻|喻|symboli[sz]|represent|stands? for|\bmeans?\b|meaning"),
    ),
    Aspect(
        "season",
        _re(r"几月|什么时候开|花期|季节|开花|上市|哪个月|when .*(?:bloom|flower|open|season|available|in season)|\bseason|month|bloom"),
        "花期与花色",
        "Season and colours",
        _re(rf"\d+\s*(?:[～~\-–到至]\s*\d+\s*)?月|{_MONTHS}|spring|summer|autumn|winter|春|夏|秋|冬"),
    ),
    Aspect(
        "occasion",
        _re(r"节日|哪个节|什么节|场合|holiday|festival|occasion|which day"),
        "花语与象征",
        "Symbolism",
        _re(r"节|婚礼|葬礼|festival|holiday|day\b|wedding|funeral|graduation"),
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

_NUM = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十半几]+)"
_RANGE = rf"{_NUM}\s*(?:[～~\-–—到至]\s*{_NUM}\s*)?"

# Answer types: not tied to a section, they say what an answering sentence contains.
ASPECTS += (
    Aspect(
        "duration",
        _re(r"多长时间|多久|几分钟|几秒|几小时|多少秒|多少分钟|多少小时|几天|how long|how many (?:minutes|hours|seconds|days)"),
        sentence=_re(rf"{_RANGE}(?:秒|分钟|小时|天|周|星期|seconds?|minutes?|hours?|days?|weeks?)"),
    ),
    Aspect(
        "quantity",
        _re(r"几层|几张|几处|几根|几枝|几朵|几次|多少|几个|how many|how much|what ratio|proportion"),
        sentence=_re(rf"{_RANGE}(?:层|张|处|根|枝|朵|次|个|倍|厘米|cm|%|°|℃|times|layers|sheets|stems)|单数|奇数|odd number|ratio|\d"),
    ),
    Aspect(
        "reason",
        _re(r"为什么|为何|原因|怎么回事|\bwhy\b|cause|reason"),
        sentence=_re(r"因为|由于|所以|因此|因而|谐音|寓意|象征|取其|导致|造成|because|cause|due to|so that|therefore|reason|homophone|sounds like|symboli[sz]"),
    ),
    Aspect(
        "place",
        _re(r"什么位置|放在哪|摆在哪|哪里|哪座|哪个寺|where"),
        sentence=_re(r"位置|中央|上方|下方|底部|顶部|寺|堂|放在|摆在|远离|located|placed|position|centre|center|away from|near|base"),
    ),
    Aspect(
        "person",
        _re(r"谁|哪位|作者|首创|创立|who\b|founder|author|invented"),
        sentence=_re(r"[\u4e00-\u9fff]{2,4}(?:所著|著|创|提出|写)|创立|首创|作者|founded|wrote|created|invented|by [A-Z]"),
    ),
)

_HEADING_EN = {a.heading_zh: a.heading_en for a in ASPECTS if a.heading_zh}


def detect_aspects(question: str) -> list[Aspect]:
    return [a for a in ASPECTS if a.question.search(question)]


def english_heading(heading: str) -> str:
    """The English name of a standard Chinese section heading ('' when not standard)."""
    return _HEADING_EN.get(heading.split(" > ")[0], "")
