"""User-visible text of the imaging layer, in Chinese and English."""

from __future__ import annotations

from typing import Literal

from .errors import ImagingError

__all__ = ["Lang", "message", "render_error"]

Lang = Literal["zh", "en"]

_MESSAGES: dict[str, dict[str, str]] = {
    "imaging_error": {
        "zh": "生成图片时出了点问题，请稍后再试。",
        "en": "Something went wrong while making the image. Please try again later.",
    },
    "invalid_prompt.empty": {
        "zh": "描述是空的，请写下想画的花艺画面。",
        "en": "The description is empty. Please describe the floral scene you'd like.",
    },
    "invalid_prompt.too_long": {
        "zh": "描述太长了（{length} 个字符，上限 {limit}）。请精简一些。",
        "en": "That description is too long ({length} characters; the limit is {limit}). Please shorten it.",
    },
    "invalid_prompt.control": {
        "zh": "描述里有无法识别的控制字符，请用普通文字重新输入。",
        "en": "The description contains control characters. Please retype it as plain text.",
    },
    "invalid_prompt.untranslatable": {
        "zh": "没能从描述中识别出可以画的内容（花材、颜色、花器或风格）。请换个说法，或写出具体的花名。",
        "en": "I couldn't find anything paintable in that description (flowers, colours, vessels or a style). Try naming specific flowers.",
    },
    "blocked_prompt": {
        "zh": "抱歉，这个描述包含不适合生成的内容，无法作画。",
        "en": "Sorry, that description contains content I can't generate.",
    },
    "unknown_style": {
        "zh": "没有名为「{style}」的风格。可选：{choices}。",
        "en": "There is no style called “{style}”. Choose one of: {choices}.",
    },
    "invalid_request.size": {
        "zh": "尺寸 {size} 不受支持。可选：{choices}。",
        "en": "Size {size} isn't supported. Choose one of: {choices}.",
    },
    "invalid_request.steps": {
        "zh": "步数需在 {low} 到 {high} 之间。",
        "en": "Steps must be between {low} and {high}.",
    },
    "invalid_request.cfg": {
        "zh": "提示词引导强度（CFG）需在 {low} 到 {high} 之间。",
        "en": "Guidance (CFG) must be between {low} and {high}.",
    },
    "invalid_request.count": {
        "zh": "每次可生成 1 到 {high} 张图片。",
        "en": "You can make 1 to {high} images at a time.",
    },
    "invalid_request.seed": {
        "zh": "种子需是 0 到 {high} 之间的整数。",
        "en": "The seed must be a whole number from 0 to {high}.",
    },
    "invalid_request.prompt": {
        "zh": "提示词为空，无法生成。",
        "en": "The prompt is empty, so there is nothing to generate.",
    },
    "backend_unavailable": {
        "zh": "目前没有可用的绘图后端。请管理员用 `huayi doctor` 检查 GPU 或 Stability API 设置。",
        "en": "No image backend is available right now. Please ask an admin to check the GPU or Stability API settings (`huayi doctor`).",
    },
    "generation_failed": {
        "zh": "图片生成失败，请稍后再试。",
        "en": "Image generation failed. Please try again later.",
    },
    "gpu_out_of_memory": {
        "zh": "显卡内存不足，即使一次只画一张也不够。请换个小一点的尺寸再试。",
        "en": "The GPU ran out of memory even for a single image. Try a smaller size.",
    },
    "stability_bad_request": {
        "zh": "Stability API 拒绝了这个请求（参数有误）。请调整描述或参数后再试。",
        "en": "The Stability API rejected the request as malformed. Adjust the description or settings and try again.",
    },
    "stability_unauthorized": {
        "zh": "Stability API 密钥无效或缺失，请管理员检查 STABILITY_API_KEY。",
        "en": "The Stability API key is missing or invalid. Please ask an admin to check STABILITY_API_KEY.",
    },
    "stability_payment_required": {
        "zh": "Stability 账户额度已用完，请管理员充值后再试。",
        "en": "The Stability account is out of credits. Please ask an admin to top it up.",
    },
    "stability_moderated": {
        "zh": "Stability 的内容审核拒绝了这个描述。请换一种说法。",
        "en": "Stability's content moderation declined this description. Please rephrase it.",
    },
    "stability_too_large": {
        "zh": "请求内容太大，Stability API 无法处理。请缩短描述。",
        "en": "The request is too large for the Stability API. Please shorten the description.",
    },
    "stability_invalid": {
        "zh": "Stability API 无法处理这些参数（{detail}）。",
        "en": "The Stability API can't use these settings ({detail}).",
    },
    "stability_rate_limited": {
        "zh": "Stability API 请求太频繁，请稍等片刻再试。",
        "en": "The Stability API is rate-limiting us. Please wait a moment and try again.",
    },
    "stability_server_error": {
        "zh": "Stability API 暂时出错，请稍后再试。",
        "en": "The Stability API had a temporary error. Please try again later.",
    },
    "stability_unreachable": {
        "zh": "无法连接 Stability API，请稍后再试。",
        "en": "The Stability API can't be reached. Please try again later.",
    },
    "job_cancelled": {
        "zh": "已取消这次生成。",
        "en": "This generation was cancelled.",
    },
    "queue_full.user": {
        "zh": "你已有 {limit} 个任务在排队，请等它们完成后再提交。",
        "en": "You already have {limit} jobs in the queue. Please wait for them to finish.",
    },
    "queue_full.global": {
        "zh": "队列已满（{limit} 个任务），请稍后再试。",
        "en": "The queue is full ({limit} jobs). Please try again shortly.",
    },
    "interrupted": {
        "zh": "机器人在生成这张图时重启了，未能完成。请重新提交。",
        "en": "The bot restarted while making this image and couldn't finish it. Please submit it again.",
    },
    "job_not_found": {
        "zh": "找不到这个任务，它可能已被删除。",
        "en": "That job can't be found; it may have been deleted.",
    },
    "not_job_owner": {
        "zh": "只有发起这个任务的成员才能这样做。",
        "en": "Only the member who started this job can do that.",
    },
    "missing_extra": {
        "zh": "缺少可选依赖：{detail}",
        "en": "An optional dependency is missing: {detail}",
    },
    "output_unwritable": {
        "zh": "无法保存图片（{reason}）。请检查图片目录的权限和磁盘空间。",
        "en": "Couldn't save the image ({reason}). Check the image folder's permissions and free disk space.",
    },
    "clip_vocabulary_missing": {
        "zh": "找不到 CLIP 词表。请运行 `pip install --no-deps open_clip_torch`。",
        "en": "The CLIP vocabulary is missing. Run `pip install --no-deps open_clip_torch`.",
    },
}


def message(key: str, lang: Lang, **params: object) -> str:
    texts = _MESSAGES.get(key) or _MESSAGES["imaging_error"]
    try:
        return texts[lang].format(**params)
    except (KeyError, IndexError):
        return texts[lang]


def render_error(error: ImagingError, lang: Lang) -> str:
    """A short, localised sentence for a domain error (no traceback, no internals, no keys)."""
    key = error.code
    for suffix in (error.params.get("reason"), error.params.get("scope")):
        if suffix and f"{key}.{suffix}" in _MESSAGES:
            key = f"{key}.{suffix}"
    return message(key, lang, **{"detail": error.detail, **error.params})
