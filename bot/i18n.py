"""Choosing the member's language and rendering bilingual text.

Each feature keeps its own strings in a `_text.py` beside it; this module holds the
mechanism and the strings every feature shares (errors, limits, permissions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from rag.text import detect_lang

__all__ = ["Lang", "Texts", "locale_lang", "text_lang", "render", "COMMON"]

Lang = Literal["zh", "en"]
Texts = Mapping[str, Mapping[Lang, str]]


def locale_lang(locale: object) -> Lang:
    """zh for any Chinese Discord locale (zh-CN, zh-TW), else en."""
    value = str(getattr(locale, "value", locale) or "")
    return "zh" if value.lower().startswith("zh") else "en"


def text_lang(text: str, fallback: Lang = "en") -> Lang:
    """The language a member wrote in; the fallback when there is nothing to judge by."""
    return detect_lang(text) if text.strip() else fallback


def render(texts: Texts, key: str, lang: Lang, **params: object) -> str:
    """The string for `key` in `lang`, formatted; a missing parameter never raises."""
    template = texts[key][lang]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


COMMON: dict[str, dict[Lang, str]] = {
    "unexpected": {
        "zh": "抱歉，出了点意外，已记录下来。请稍后再试。",
        "en": "Sorry, something unexpected went wrong. It has been logged; please try again later.",
    },
    "rate_limited.user": {
        "zh": "你操作得太快了，请在 {seconds} 秒后再试。",
        "en": "You're going a little fast. Please try again in {seconds} s.",
    },
    "rate_limited.guild": {
        "zh": "本服务器的请求太多了，请在 {seconds} 秒后再试。",
        "en": "This server is sending a lot of requests. Please try again in {seconds} s.",
    },
    "rate_limited.draw": {
        "zh": "你本小时的作画次数已用完，请在 {minutes} 分钟后再试。",
        "en": "You've used this hour's drawings. Please try again in {minutes} min.",
    },
    "missing_permissions": {
        "zh": "你没有使用这个命令的权限（需要：{permissions}）。",
        "en": "You don't have permission to use this command (needs: {permissions}).",
    },
    "bot_missing_permissions": {
        "zh": "我缺少这些权限：{permissions}。请管理员在频道设置里授予。",
        "en": "I'm missing these permissions: {permissions}. Please ask an admin to grant them in the channel settings.",
    },
    "bot_forbidden": {
        "zh": "Discord 不允许我在这里这样做。请管理员检查我在这个频道的权限。",
        "en": "Discord won't let me do that here. Please ask an admin to check my permissions in this channel.",
    },
    "guild_only": {
        "zh": "这个命令只能在服务器里使用。",
        "en": "This command only works in a server.",
    },
    "not_owner": {
        "zh": "只有发起人或拥有「管理消息」权限的成员才能这样做。",
        "en": "Only the person who started this, or a member with Manage Messages, can do that.",
    },
    "gone": {
        "zh": "找不到这条记录了，可能已被删除。",
        "en": "I can't find that any more; it may have been deleted.",
    },
    "invalid_option": {
        "zh": "这个值无效：{value}",
        "en": "That value isn't valid: {value}",
    },
    "kb_unavailable": {
        "zh": "知识库暂时不可用，已通知管理员。管理员可以用 /kb reindex 重建索引。",
        "en": "The knowledge base isn't available right now. An admin can rebuild it with /kb reindex.",
    },
    "images_unavailable": {
        "zh": "作画功能暂时不可用，请管理员检查服务器设置（huayi doctor）。",
        "en": "Drawing isn't available right now. Please ask an admin to check the server setup (huayi doctor).",
    },
    "restarting": {
        "zh": "Huayi 正在重启，这个请求没能完成。请过一分钟再试一次。",
        "en": "Huayi is restarting, so this request couldn't finish. Please try again in a minute.",
    },
    "discord_error": {
        "zh": "Discord 暂时没有响应，请稍后再试。",
        "en": "Discord didn't respond just now. Please try again shortly.",
    },
}
