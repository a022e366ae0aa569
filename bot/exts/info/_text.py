"""What /styles, /status and /help say, in Chinese and English."""

from __future__ import annotations

from ...i18n import Lang

TEXTS: dict[str, dict[Lang, str]] = {
    # /styles
    "styles_example": {"zh": "示例", "en": "Example"},
    "styles_id": {"zh": "风格代码", "en": "Style id"},
    "styles_footer": {
        "zh": "第 {page}/{pages} 页 · 共 {count} 种风格 · 作画时选用",
        "en": "Page {page}/{pages} · {count} styles · pick one when you /draw",
    },
    "styles_previous": {"zh": "上一页", "en": "Previous page"},
    "styles_next": {"zh": "下一页", "en": "Next page"},
    "styles_not_yours": {
        "zh": "这份风格列表是别人打开的，只有 TA 能翻页。你可以自己用 /styles 打开一份。",
        "en": "Someone else opened this style list, so only they can turn its pages. Use /styles to open your own.",
    },
    "styles_none": {"zh": "还没有可用的风格模板。", "en": "No style templates are available."},
    # /status
    "status_title": {"zh": "花艺运行状态", "en": "Huayi status"},
    "status_queue": {"zh": "作画队列", "en": "Drawing queue"},
    "status_queue_closed": {
        "zh": "尚未启动（第一次作画时启动）",
        "en": "Not started yet (it starts with the first drawing)",
    },
    "status_queue_value": {
        "zh": "排队中 {queued} 个 · 正在生成 {running} 个",
        "en": "{queued} waiting · {running} being drawn",
    },
    "status_mine": {"zh": "你的作画任务", "en": "Your drawings"},
    "status_mine_none": {"zh": "你目前没有排队中的任务。", "en": "You have nothing in the queue right now."},
    "status_mine_queued": {"zh": "第 {position} 位", "en": "#{position} in line"},
    "status_mine_running": {"zh": "正在生成", "en": "being drawn now"},
    "status_backends": {"zh": "图像后端", "en": "Image backends"},
    "status_backend_ok": {"zh": "✅ {name}：可用", "en": "✅ {name}: available"},
    "status_backend_down": {"zh": "⛔ {name}：不可用", "en": "⛔ {name}: unavailable"},
    "status_backend_unknown": {
        "zh": "暂时无法检查图像后端。",
        "en": "The image backends couldn't be checked just now.",
    },
    "backend.local": {"zh": "本地 GPU（SDXL）", "en": "local GPU (SDXL)"},
    "backend.stability": {"zh": "Stability AI", "en": "Stability AI"},
    "status_index": {"zh": "知识库索引", "en": "Knowledge index"},
    "status_index_value": {
        "zh": "{documents} 篇文档 · {chunks} 个片段",
        "en": "{documents} documents · {chunks} chunks",
    },
    "status_index_built": {"zh": "构建于 {when}", "en": "built {when}"},
    "status_index_missing": {
        "zh": "还没有建立（第一次提问时会建立，管理员也可以用 /kb reindex）",
        "en": "Not built yet (the first question builds it, or an admin can run /kb reindex)",
    },
    "status_index_damaged": {
        "zh": "索引已损坏，请管理员用 /kb reindex 重建",
        "en": "The index is damaged; an admin can rebuild it with /kb reindex",
    },
    "status_uptime": {"zh": "已运行", "en": "Uptime"},
    "status_version": {"zh": "版本", "en": "Version"},
    "uptime.d": {"zh": "{n} 天", "en": "{n} d"},
    "uptime.h": {"zh": "{n} 小时", "en": "{n} h"},
    "uptime.m": {"zh": "{n} 分钟", "en": "{n} min"},
    "uptime.s": {"zh": "{n} 秒", "en": "{n} s"},
    # /help
    "help_title": {"zh": "花艺 Huayi 使用指南", "en": "Huayi (花艺) guide"},
    "help_intro": {
        "zh": "我是花艺助手：回答花材、插花风格、养护和花艺设计的问题（附编号来源），也能把你的构思画成花艺作品。中文、英文都可以。",
        "en": "I'm a floral assistant: I answer questions about flowers, arrangement styles, care and floral design (with numbered sources), and I can turn your ideas into flower art. Chinese or English both work.",
    },
    "help_footer": {
        "zh": "回答和按钮的语言跟随你的 Discord 语言设置。",
        "en": "Replies and buttons follow your Discord language setting.",
    },
    "help_commands": {"zh": "命令：{commands}", "en": "Commands: {commands}"},
    "help.ask.title": {"zh": "💬 提问", "en": "💬 Questions"},
    "help.ask.body": {
        "zh": "`/ask question:` 向知识库提问，回答附编号来源；`private:` 设为 True 时只有你能看到。"
        "回答下方有 👍/👎 反馈按钮和「继续追问」按钮（开一个帖子接着聊）。\n"
        "也可以直接对话：@我 提问、回复我的回答，或在我开的帖子里继续发消息，我会结合前面的内容回答。",
        "en": "`/ask question:` answers from the knowledge base with numbered sources; set `private:` to True to see it alone. "
        "Under each answer, 👍/👎 buttons record feedback and **Follow up** opens a thread to keep talking.\n"
        "You can also just talk: @mention me with a question, reply to one of my answers, or keep writing in a thread I opened; I take the earlier messages into account.",
    },
    "help.draw.title": {"zh": "🎨 作画", "en": "🎨 Drawing"},
    "help.draw.body": {
        "zh": "`/draw prompt:` 把你的构思（中文或英文，例如「优雅的中式牡丹插花，黑色花器」）变成 SDXL 提示词，结合知识库补充花材与花器后排队生成；"
        "可选 `style`（见 /styles）、`size`、`count`、`seed`、`negative`。排队时显示你的位置和进度，可点 ✖️ 取消。\n"
        "作品下方的按钮：🔁 重画 · 🎲 变体 · ✏️ 修改描述 · ℹ️ 详情（提示词与种子）· 🗑️ 删除。",
        "en": "`/draw prompt:` turns your idea (Chinese or English, e.g. “an elegant Chinese peony arrangement in a black vase”) into an SDXL prompt, "
        "enriched with flowers and vessels from the knowledge base, and queues it; options `style` (see /styles), `size`, `count`, `seed`, `negative`. "
        "While it waits you see your place in line and the progress, and ✖️ cancels it.\n"
        "Buttons under the picture: 🔁 Re-roll · 🎲 Variations · ✏️ Edit the prompt · ℹ️ Info (prompt and seed) · 🗑️ Delete.",
    },
    "help.info.title": {"zh": "ℹ️ 信息", "en": "ℹ️ Information"},
    "help.info.body": {
        "zh": "`/styles` 浏览所有作画风格（名称、说明、示例），用 ◀ ▶ 翻页。\n"
        "`/status` 查看作画队列与你的排位、图像后端是否可用、知识库规模、运行时长和版本。\n"
        "`/help` 显示这份指南。",
        "en": "`/styles` browses every drawing style (name, description, an example), paged with ◀ ▶.\n"
        "`/status` shows the drawing queue and your place in it, whether the image backends are available, the knowledge base size, uptime and version.\n"
        "`/help` shows this guide.",
    },
    "help.session.title": {"zh": "👥 群体创作", "en": "👥 Group sessions"},
    "help.session.body": {
        "zh": "`/session start theme:` 在新帖子里发起一场限时的花艺共创；大家用 `/session add` 补充花材、颜色、花器或氛围，"
        "`/session draw` 根据简报生成候选图，每人用 🗳️ 按钮投一票（可以改投），`/session finish` 结束并公布获胜作品。",
        "en": "`/session start theme:` opens a timed group arrangement in a new thread; everyone adds flowers, colours, vessels or moods with `/session add`, "
        "`/session draw` draws candidate pictures from the brief, members vote with the 🗳️ buttons (one vote each, changeable), and `/session finish` announces the winner.",
    },
    "help.kb.title": {"zh": "📚 知识库管理（管理员）", "en": "📚 Knowledge base (admins)"},
    "help.kb.body": {
        "zh": "需要「管理服务器」权限：`/kb add` 上传 .md/.txt/.pdf/.html/.docx 文档并立即索引；"
        "`/kb search` 查看检索结果与分数；`/kb stats` 查看文档、片段、上传和反馈统计；`/kb reindex` 从头重建索引。",
        "en": "Needs the Manage Server permission: `/kb add` uploads a .md/.txt/.pdf/.html/.docx document and indexes it at once; "
        "`/kb search` shows what a question retrieves, with scores; `/kb stats` shows documents, chunks, uploads and feedback; `/kb reindex` rebuilds the index from scratch.",
    },
}
