"""User-visible text of the RAG layer, in Chinese and English."""

from __future__ import annotations

from .errors import RagError
from .text import Lang

__all__ = ["message", "render_error"]

_MESSAGES: dict[str, dict[str, str]] = {
    "out_of_domain": {
        "zh": "抱歉，这个问题超出了我的范围。我是花艺助手，可以回答花材、插花风格、养护技巧、花艺设计和节日用花等问题。",
        "en": "Sorry, that is outside what I can help with. I'm a floral assistant: ask me about flowers, arrangement styles, care and conditioning, floral design or flowers for occasions.",
    },
    "no_answer": {
        "zh": "抱歉，知识库里没有找到能回答这个问题的内容。可以换个说法，或者问问具体的花材、风格或技巧。",
        "en": "Sorry, I couldn't find an answer to that in the knowledge base. Try rephrasing, or ask about a specific flower, style or technique.",
    },
    "other_language_note": {
        "zh": "（知识库中只有英文资料，以下为原文摘录）",
        "en": "(The knowledge base only has Chinese material on this; quoted as written.)",
    },
    "invalid_question.empty": {
        "zh": "问题是空的，请输入想问的内容。",
        "en": "The question is empty. Please type what you'd like to know.",
    },
    "invalid_question.too_long": {
        "zh": "问题太长了（{length} 个字符，上限 {limit}）。请精简后再问。",
        "en": "That question is too long ({length} characters; the limit is {limit}). Please shorten it.",
    },
    "invalid_question.control": {
        "zh": "问题里有无法识别的控制字符，请用普通文字重新输入。",
        "en": "The question contains control characters. Please retype it as plain text.",
    },
    "invalid_question.not_text": {
        "zh": "问题必须是文字。",
        "en": "The question must be text.",
    },
    "index_missing": {
        "zh": "知识库索引还没有建立。请先运行 `huayi index`。",
        "en": "The knowledge index has not been built yet. Run `huayi index` first.",
    },
    "index_corrupt": {
        "zh": "知识库索引已损坏或不完整（{path}）。请运行 `huayi index --rebuild` 重建。",
        "en": "The knowledge index is damaged or incomplete ({path}). Run `huayi index --rebuild` to rebuild it.",
    },
    "index_mismatch": {
        "zh": "知识库索引与当前设置不一致（{detail}）。请运行 `huayi index --rebuild` 重建。",
        "en": "The knowledge index does not match the current settings ({detail}). Run `huayi index --rebuild` to rebuild it.",
    },
    "index_busy": {
        "zh": "另一个索引任务正在运行，请等它完成后再试。",
        "en": "Another indexing run is in progress. Please wait for it to finish and try again.",
    },
    "loader_error": {
        "zh": "无法读取文件：{detail}",
        "en": "Could not read the file: {detail}",
    },
    "glossary_error": {
        "zh": "术语表有误：{detail}",
        "en": "The glossary is invalid: {detail}",
    },
    "missing_extra": {
        "zh": "缺少可选依赖：请运行 `pip install \"huayi[{extra}]\"`。",
        "en": "An optional dependency is missing: run `pip install \"huayi[{extra}]\"`.",
    },
    "rag_error": {
        "zh": "知识库出错了：{detail}",
        "en": "Something went wrong with the knowledge base: {detail}",
    },
}


def message(key: str, lang: Lang, **params: object) -> str:
    texts = _MESSAGES.get(key) or _MESSAGES["rag_error"]
    try:
        return texts[lang].format(**params)
    except (KeyError, IndexError):
        return texts[lang]


def render_error(error: RagError, lang: Lang) -> str:
    """A short, localised sentence for a domain error (no traceback, no internals)."""
    key = error.code
    reason = error.params.get("reason")
    if f"{key}.{reason}" in _MESSAGES:
        key = f"{key}.{reason}"
    params = {"detail": error.detail, **error.params}
    return message(key, lang, **params)
