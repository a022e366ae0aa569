"""What group image sessions say, in Chinese and English.

`TEXTS` are the feature's public and private lines; `ERRORS` are registered with
`bot.errors` so a `SessionError` turns into a polite sentence on every error path.
"""

from __future__ import annotations

from ...i18n import Lang

TEXTS: dict[str, dict[Lang, str]] = {
    "announce": {
        "zh": "🌸 **{starter}** 发起了花艺共创：**{theme}**\n在下面的帖子里一起补充花材、颜色、花器和氛围，然后投票选出最喜欢的作品。",
        "en": "🌸 **{starter}** started a group arrangement: **{theme}**\nAdd flowers, colours, vessels and moods in the thread below, then vote for your favourite picture.",
    },
    "thread_name": {"zh": "🌸 共创：{theme}", "en": "🌸 Session: {theme}"},
    "brief.title": {"zh": "🌸 共创简报：{theme}", "en": "🌸 Session brief: {theme}"},
    "brief.meta": {
        "zh": "发起人：{starter} · 风格：{style} · 结束：{ends}",
        "en": "Started by {starter} · Style: {style} · Ends {ends}",
    },
    "brief.how": {
        "zh": "直接在帖子里发消息，或用 `/session add` 添加元素；`/session draw` 生成候选图。",
        "en": "Write in this thread or use `/session add` to add ideas; `/session draw` makes candidate pictures.",
    },
    "brief.how_command": {
        "zh": "用 `/session add` 添加元素（或发消息时 @我）；`/session draw` 生成候选图。",
        "en": "Use `/session add` to add ideas (or @mention me in a message); `/session draw` makes candidate pictures.",
    },
    "brief.empty": {"zh": "（还没有补充内容，快来添加吧！）", "en": "(Nothing added yet. Be the first!)"},
    "brief.more": {"zh": "……另有 {count} 项", "en": "…and {count} more"},
    "brief.contributors": {"zh": "贡献者：{names}", "en": "Contributors: {names}"},
    "brief.finished": {"zh": "✅ 本次共创已结束。", "en": "✅ This session has finished."},
    "section.flowers": {"zh": "🌷 花材", "en": "🌷 Flowers"},
    "section.colours": {"zh": "🎨 颜色", "en": "🎨 Colours"},
    "section.vessels": {"zh": "🏺 花器", "en": "🏺 Vessels"},
    "section.moods": {"zh": "✨ 氛围", "en": "✨ Moods"},
    "section.other": {"zh": "💡 其他想法", "en": "💡 Other ideas"},
    "more_people": {"zh": "等 {count} 人", "en": "+{count}"},
    "added": {"zh": "已加入简报：{items}", "en": "Added to the brief: {items}"},
    "already": {"zh": "简报里已经有了：{items}（已记上你的贡献）", "en": "Already in the brief: {items} (you're credited too)"},
    "started": {"zh": "共创已开始：{thread}", "en": "Your session is open: {thread}"},
    "round.preparing": {"zh": "🎨 第 {round} 轮（{requester} 发起）：正在准备提示词…", "en": "🎨 Round {round} (asked by {requester}): preparing the prompt…"},
    "round.queued": {"zh": "🕒 第 {round} 轮：排队中，第 {position} 位。", "en": "🕒 Round {round}: queued, position {position}."},
    "round.started": {"zh": "🎨 第 {round} 轮：开始作画…", "en": "🎨 Round {round}: drawing…"},
    "round.progress": {"zh": "🎨 第 {round} 轮：第 {step}/{total} 步{eta}", "en": "🎨 Round {round}: step {step}/{total}{eta}"},
    "round.eta": {"zh": "，约剩 {seconds} 秒", "en": ", about {seconds} s left"},
    "round.done": {"zh": "✅ 第 {round} 轮完成！请在下面投票。", "en": "✅ Round {round} is ready! Vote below."},
    "round.failed": {"zh": "❌ 第 {round} 轮失败：{reason}", "en": "❌ Round {round} failed: {reason}"},
    "round.cancelled": {"zh": "🚫 第 {round} 轮已取消。", "en": "🚫 Round {round} was cancelled."},
    "round.queued_private": {
        "zh": "第 {round} 轮已加入队列（{count} 张候选图），进度会显示在帖子里。",
        "en": "Round {round} is in the queue ({count} candidates); progress shows in the thread.",
    },
    "candidates": {"zh": "🖼️ 第 {round} 轮候选图", "en": "🖼️ Round {round} candidates"},
    "tally.title": {"zh": "🗳️ 第 {round} 轮投票（每人一票，可以改投）", "en": "🗳️ Round {round} votes (one each; you can change yours)"},
    "tally.line": {"zh": "候选 {candidate}：{votes} 票", "en": "Candidate {candidate}: {votes} vote(s)"},
    "tally.closed": {"zh": "投票已结束。", "en": "Voting has closed."},
    "vote.button": {"zh": "投 {candidate}", "en": "Vote {candidate}"},
    "vote.recorded": {"zh": "已投给候选 {candidate}。", "en": "You voted for candidate {candidate}."},
    "vote.moved": {"zh": "已把你的票从候选 {old} 改投给候选 {candidate}。", "en": "Your vote moved from candidate {old} to candidate {candidate}."},
    "vote.same": {"zh": "你已经投给候选 {candidate} 了。", "en": "You've already voted for candidate {candidate}."},
    "winner": {
        "zh": "🏆 共创「{theme}」结束！获胜作品：第 {round} 轮候选 {candidate}（{votes} 票）。\n感谢参与：{names}",
        "en": "🏆 The session “{theme}” is over! The winner is round {round}, candidate {candidate} ({votes} vote(s)).\nThanks to: {names}",
    },
    "winner.none": {
        "zh": "共创「{theme}」结束了，这次没有生成作品。感谢参与：{names}",
        "en": "The session “{theme}” is over; no pictures were drawn this time. Thanks to: {names}",
    },
    "expired": {"zh": "⏰ 时间到，本次共创自动结束。", "en": "⏰ Time's up: this session ends automatically."},
    "nobody": {"zh": "（无）", "en": "(nobody)"},
    "gallery": {"zh": "🖼️ 作品集 · 第 {round} 轮 {part}", "en": "🖼️ Gallery · round {round} {part}"},
    "gallery.winner": {"zh": "🏆 获胜：候选 {candidate}", "en": "🏆 Winner: candidate {candidate}"},
    "finished_private": {"zh": "共创已结束，结果已发布在帖子里。", "en": "The session is finished; the results are in the thread."},
}

ERRORS: dict[str, dict[Lang, str]] = {
    "session": {"zh": "共创出了点问题，请稍后再试。", "en": "Something went wrong with the session. Please try again."},
    "session.not_text_channel": {
        "zh": "共创只能在服务器的文字频道里发起（不能在帖子或私信里）。",
        "en": "Sessions can only be started in a server text channel (not in a thread or a DM).",
    },
    "session.no_session": {
        "zh": "这里没有进行中的共创。请在共创帖子里使用这个命令，或用 `/session start` 发起一个。",
        "en": "There's no open session here. Use this command inside a session thread, or start one with `/session start`.",
    },
    "session.closed": {"zh": "这次共创已经结束了。", "en": "This session has already finished."},
    "session.already_drawing": {
        "zh": "这一轮还在生成中，请等它完成后再开始新一轮。",
        "en": "A round is still being drawn. Please wait for it before starting another.",
    },
    "session.old_round": {
        "zh": "这一轮的投票已经结束，请为最新一轮投票。",
        "en": "Voting on this round has closed. Please vote on the latest round.",
    },
    "session.minutes": {
        "zh": "时长必须在 1 到 {limit} 分钟之间。",
        "en": "The duration must be between 1 and {limit} minutes.",
    },
    "session.empty": {
        "zh": "内容是空的，请写下花材、颜色、花器或氛围。",
        "en": "That's empty. Please name a flower, colour, vessel or mood.",
    },
    "session.too_long": {
        "zh": "内容太长了（{length} 个字符，上限 {limit}）。请精简一些。",
        "en": "That's too long ({length} characters; the limit is {limit}). Please shorten it.",
    },
    "session.blocked": {
        "zh": "抱歉，这段内容不适合用于作画，没有加入简报。",
        "en": "Sorry, that contains content I can't draw, so it wasn't added to the brief.",
    },
    "session.brief_full": {
        "zh": "简报已经满了（合并后的描述最多 {limit} 个字符）。可以先用 `/session draw` 画一轮。",
        "en": "The brief is full (the merged description may have at most {limit} characters). Try `/session draw` now.",
    },
}
