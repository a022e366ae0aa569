"""What the Q&A feature says, in Chinese and English."""

from __future__ import annotations

from ...i18n import Lang

TEXTS: dict[str, dict[Lang, str]] = {
    "sources": {"zh": "来源", "en": "Sources"},
    "no_sources": {"zh": "（知识库中没有相关资料）", "en": "(nothing relevant in the knowledge base)"},
    "footer": {"zh": "花艺知识库 · 回答由 {backend} 生成", "en": "Huayi knowledge base · answered by {backend}"},
    "backend.extractive": {"zh": "知识库原文摘录", "en": "quoting the knowledge base"},
    "backend.llm": {"zh": "语言模型（依据所列来源）", "en": "a language model (from the listed sources)"},
    "backend.none": {"zh": "知识库", "en": "the knowledge base"},
    "llm_fallback": {
        "zh": "语言模型暂时不可用，以下为知识库原文摘录。",
        "en": "The language model is unavailable right now, so this quotes the knowledge base directly.",
    },
    "helpful": {"zh": "有帮助", "en": "Helpful"},
    "not_helpful": {"zh": "没帮助", "en": "Not helpful"},
    "follow_up": {"zh": "继续追问", "en": "Follow up"},
    "thanks.up": {"zh": "谢谢反馈！👍 已记录。", "en": "Thanks for the feedback! 👍 recorded."},
    "thanks.down": {
        "zh": "谢谢反馈！👎 已记录，我们会用它改进知识库。",
        "en": "Thanks for the feedback! 👎 recorded; it helps us improve the knowledge base.",
    },
    "tally": {"zh": "👍 {up} · 👎 {down}", "en": "👍 {up} · 👎 {down}"},
    "thread_created": {
        "zh": "已开好追问帖：{thread}。在里面直接发消息即可继续提问。",
        "en": "Follow-up thread ready: {thread}. Just write your next question there.",
    },
    "thread_exists": {"zh": "追问帖已经在这里：{thread}", "en": "The follow-up thread is here: {thread}"},
    "thread_intro": {
        "zh": "在这里继续追问吧：直接发消息，我会结合上面的问答来回答。",
        "en": "Ask your follow-up questions here; I'll take the earlier answer into account.",
    },
    "thread_intro_mention": {
        "zh": "在这里继续追问吧：发消息时 @我，我会结合上面的问答来回答。",
        "en": "Ask your follow-up questions here and @mention me; I'll take the earlier answer into account.",
    },
    "no_thread_here": {
        "zh": "这里不能开帖子（私信或已是帖子），请直接回复我的消息来追问。",
        "en": "I can't open a thread here (a DM or already a thread); reply to my message to follow up.",
    },
    "thread_name": {"zh": "追问：{question}", "en": "Q: {question}"},
}
