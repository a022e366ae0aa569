"""What /draw says, in Chinese and English."""

from __future__ import annotations

from ...i18n import Lang

TEXTS: dict[str, dict[Lang, str]] = {
    "queued": {"zh": "🕒 已排队：第 {position} 位。", "en": "🕒 Queued: position {position}."},
    "queued_next": {"zh": "🕒 已排队：下一个就是你。", "en": "🕒 Queued: you're next."},
    "started": {"zh": "🎨 开始作画…", "en": "🎨 Starting…"},
    "progress": {"zh": "🎨 作画中：第 {step}/{total} 步{eta}", "en": "🎨 Drawing: step {step}/{total}{eta}"},
    "eta": {"zh": "，约剩 {seconds} 秒", "en": ", about {seconds} s left"},
    "cancelled": {"zh": "🚫 已取消。", "en": "🚫 Cancelled."},
    "cancel_requested": {"zh": "好的，正在取消。", "en": "OK, cancelling."},
    "already_finished": {"zh": "这个任务已经结束了。", "en": "That job has already finished."},
    "failed": {"zh": "❌ {reason}", "en": "❌ {reason}"},
    "done_elsewhere": {"zh": "✅ 完成！图片已发在下面。", "en": "✅ Done! The image is posted below."},
    "late_result": {"zh": "{owner} 你的图画好了：", "en": "{owner} your image is ready:"},
    "title": {"zh": "🌸 {idea}", "en": "🌸 {idea}"},
    "field.style": {"zh": "风格", "en": "Style"},
    "field.seed": {"zh": "种子", "en": "Seed"},
    "field.backend": {"zh": "生成方式", "en": "Backend"},
    "field.time": {"zh": "用时", "en": "Time"},
    "field.size": {"zh": "尺寸", "en": "Size"},
    "field.steps": {"zh": "步数 / CFG", "en": "Steps / CFG"},
    "field.negative": {"zh": "负面提示词", "en": "Negative prompt"},
    "field.prompt_2": {"zh": "第二编码器提示词", "en": "Second encoder prompt"},
    "field.model": {"zh": "模型 / 采样器", "en": "Model / sampler"},
    "field.notes": {"zh": "说明", "en": "Notes"},
    "field.job": {"zh": "任务", "en": "Job"},
    "backend.local": {"zh": "本地 GPU（SDXL）", "en": "local GPU (SDXL)"},
    "backend.stability": {"zh": "Stability AI", "en": "Stability AI"},
    "fallback": {
        "zh": "⚠️ 本地 GPU 暂不可用，这次由 Stability AI 备用服务生成。",
        "en": "⚠️ The local GPU was unavailable, so the Stability AI fallback made this one.",
    },
    "seconds": {"zh": "{seconds} 秒", "en": "{seconds} s"},
    "button.reroll": {"zh": "重画", "en": "Re-roll"},
    "button.vary": {"zh": "变体", "en": "Variations"},
    "button.edit": {"zh": "修改", "en": "Edit"},
    "button.info": {"zh": "详情", "en": "Info"},
    "button.delete": {"zh": "删除", "en": "Delete"},
    "button.cancel": {"zh": "取消", "en": "Cancel"},
    "modal.title": {"zh": "修改描述后重画", "en": "Edit the prompt and draw again"},
    "modal.label": {"zh": "描述", "en": "Prompt"},
    "deleted": {"zh": "已删除。", "en": "Deleted."},
    "info_title": {"zh": "生成参数", "en": "Generation details"},
    "prompt_label": {"zh": "完整提示词", "en": "Full prompt"},
}
