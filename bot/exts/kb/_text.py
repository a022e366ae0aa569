"""What the knowledge-base admin commands say, in Chinese and English."""

from __future__ import annotations

from ...i18n import Lang

TEXTS: dict[str, dict[Lang, str]] = {
    "added": {
        "zh": "✅ 已加入知识库：`{name}`，索引了 {chunks} 个片段（用时 {seconds} 秒）。\n知识库现有 {documents} 篇文档、{total_chunks} 个片段。",
        "en": "✅ Added `{name}` to the knowledge base: {chunks} chunks indexed in {seconds} s.\nThe knowledge base now holds {documents} documents and {total_chunks} chunks.",
    },
    "renamed": {
        "zh": "已有一个同名但内容不同的文件，所以新文件保存为 `{name}`。",
        "en": "A different file already had that name, so this one was saved as `{name}`.",
    },
    "duplicate": {
        "zh": "这个文件已经在知识库里了（内容相同，文件名 `{name}`），无需重复添加。",
        "en": "This file is already in the knowledge base (same content, saved as `{name}`); nothing to add.",
    },
    "search_title": {"zh": "知识库检索：{query}", "en": "Knowledge search: {query}"},
    "search_none": {
        "zh": "没有足够相关的片段（最佳向量分 {dense}，最佳 BM25 分 {bm25}）。",
        "en": "No passage is relevant enough (best dense score {dense}, best BM25 score {bm25}).",
    },
    "search_hit": {
        "zh": "`{path}` · 综合分 {score}（向量 {dense} · BM25 {bm25}）",
        "en": "`{path}` · score {score} (dense {dense} · BM25 {bm25})",
    },
    "stats_title": {"zh": "知识库统计", "en": "Knowledge base statistics"},
    "stats_documents": {"zh": "文档", "en": "Documents"},
    "stats_chunks": {"zh": "片段", "en": "Chunks"},
    "stats_languages": {"zh": "语言（按片段）", "en": "Languages (by chunk)"},
    "stats_uploads": {"zh": "上传的文件", "en": "Uploaded files"},
    "stats_uploads_value": {"zh": "本服务器 {guild} 个 · 全部 {total} 个", "en": "{guild} in this server · {total} in all"},
    "stats_built": {"zh": "最近一次构建", "en": "Last build"},
    "stats_skipped": {"zh": "无法读取而跳过的文件", "en": "Files skipped as unreadable"},
    "stats_feedback": {"zh": "回答反馈", "en": "Answer feedback"},
    "stats_feedback_value": {
        "zh": "👍 {up} · 👎 {down}（{answers} 条回答）",
        "en": "👍 {up} · 👎 {down} (on {answers} answers)",
    },
    "stats_feedback_none": {"zh": "暂无", "en": "none yet"},
    "stats_model": {"zh": "嵌入模型", "en": "Embedding model"},
    "lang.zh": {"zh": "中文", "en": "Chinese"},
    "lang.en": {"zh": "英文", "en": "English"},
    "reindexed": {
        "zh": "✅ 索引已重建，用时 {seconds} 秒：{documents} 篇文档，{chunks} 个片段（本次嵌入 {embedded} 个）。",
        "en": "✅ Index rebuilt in {seconds} s: {documents} documents, {chunks} chunks ({embedded} embedded).",
    },
    "reindex_skipped": {
        "zh": "有 {count} 个文件无法读取，已跳过：{files}",
        "en": "{count} files could not be read and were skipped: {files}",
    },
    "late_result": {
        "zh": "{user} 的知识库任务已完成：",
        "en": "{user}'s knowledge-base task has finished:",
    },
}

ERRORS: dict[str, dict[Lang, str]] = {
    "kb_admin_only": {
        "zh": "只有拥有「管理服务器」权限的成员才能管理知识库。",
        "en": "Only members with the Manage Server permission can manage the knowledge base.",
    },
    "kb_read_only_here": {
        "zh": "知识库由这个机器人所在的所有服务器共用，只有机器人主人指定的服务器可以修改它。这里可以用 /kb search 和 /kb stats。",
        "en": "The knowledge base is shared by every server this bot is in, and only the servers its owner chose may "
        "change it. /kb search and /kb stats work here.",
    },
    "kb_no_index": {
        "zh": "知识库索引还没有建立。请管理员使用 `/kb reindex` 建立索引。",
        "en": "The knowledge index hasn't been built yet. An admin can build it with `/kb reindex`.",
    },
    "kb_upload.type": {
        "zh": "不支持这种文件类型（{suffix}）。可以上传：{allowed}。",
        "en": "That file type ({suffix}) isn't supported. You can upload: {allowed}.",
    },
    "kb_upload.name": {
        "zh": "文件名里没有可用的文字，请改一个由字母、数字或汉字组成的文件名后再上传。",
        "en": "The file name has no usable letters. Please rename it with letters, digits or Chinese characters and upload again.",
    },
    "kb_upload.too_large": {
        "zh": "文件太大了（{size}），上限是 {limit}。",
        "en": "That file is too large ({size}); the limit is {limit}.",
    },
    "kb_upload.unpacked_too_large": {
        "zh": "这个 DOCX 解压后太大了（上限 {limit}）。",
        "en": "That DOCX is too large once unpacked (the limit is {limit}).",
    },
    "kb_upload.empty": {"zh": "文件是空的。", "en": "That file is empty."},
    "kb_upload.magic": {
        "zh": "文件内容不是有效的 {kind}，与扩展名不符。",
        "en": "The file's content isn't a valid {kind}, so it doesn't match its extension.",
    },
    "kb_upload.encoding": {
        "zh": "文本文件必须是 UTF-8 编码。请用 UTF-8 另存后再上传。",
        "en": "Text files must be UTF-8. Please save it as UTF-8 and upload again.",
    },
    "kb_upload.download": {
        "zh": "无法从 Discord 下载这个附件，请稍后再试。",
        "en": "I couldn't download that attachment from Discord. Please try again shortly.",
    },
    "kb_unreadable": {
        "zh": "无法读取这个文件，所以没有加入知识库。",
        "en": "I couldn't read that file, so it wasn't added to the knowledge base.",
    },
    "kb_unreadable.binary": {
        "zh": "这个文件看起来是二进制数据而不是文本，所以没有加入知识库。",
        "en": "That file looks like binary data rather than text, so it wasn't added.",
    },
    "kb_unreadable.encoding": {
        "zh": "无法把这个文件读成文本，所以没有加入知识库。",
        "en": "That file couldn't be read as text, so it wasn't added.",
    },
    "kb_unreadable.front_matter": {
        "zh": "文件开头的 YAML 元数据（front matter）格式有误，所以没有加入知识库。请参照知识库编写规范修正。",
        "en": "The YAML front matter at the top of the file is invalid, so it wasn't added. Please fix it (see the KB authoring guide).",
    },
    "kb_unreadable.pdf": {
        "zh": "这个 PDF 无法读取（可能已损坏或加密），所以没有加入知识库。",
        "en": "That PDF can't be read (it may be damaged or encrypted), so it wasn't added.",
    },
    "kb_unreadable.docx": {
        "zh": "这个 DOCX 无法读取（可能已损坏），所以没有加入知识库。",
        "en": "That DOCX can't be read (it may be damaged), so it wasn't added.",
    },
    "kb_unreadable.empty": {
        "zh": "这个文件里没有可读取的文字（例如只有扫描图片的 PDF），所以没有加入知识库。",
        "en": "That file has no readable text (a PDF of scanned images, for example), so it wasn't added.",
    },
}
