"""/kb: server admins add documents to the knowledge base, search it, inspect and rebuild it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from rag.errors import IndexMissingError
from rag.retriever import SearchResult
from rag.text import validate_question

from ...errors import BotError, GuildOnlyError, register_texts
from ...i18n import Lang, render
from ...replies import NO_MENTIONS, interaction_lang
from .._feature import FeatureCog
from ._catalog import IndexSummary, read_feedback, read_index_summary, source_key
from ._format import KbStats, added_message, clip_line, reindex_message, search_fields, stats_fields
from ._text import ERRORS, TEXTS
from ._uploads import (
    UnreadableUpload,
    UploadRejected,
    check_content,
    check_declared,
    check_readable,
    count_uploads,
    store_upload,
)

__all__ = ["KbCog"]

log = logging.getLogger(__name__)
KB_COLOUR = discord.Colour.from_rgb(96, 150, 110)


class AdminOnlyError(BotError):
    code = "kb_admin_only"


class ReadOnlyHereError(BotError):
    code = "kb_read_only_here"


class NoIndexError(BotError):
    code = "kb_no_index"


def require_manager(interaction: discord.Interaction, writers: Sequence[int] | None = None) -> int:
    """The guild id, if the member may manage the server there (and, given `writers`, change the knowledge base).

    `default_permissions` only hides the command; server admins can re-grant it to anyone
    in the integration settings, so the permission itself is checked on every use. The knowledge
    base is shared by every server, so `KB_ADMIN_GUILD_IDS` decides whose managers may change it.
    """
    if interaction.guild_id is None:
        raise GuildOnlyError("kb outside a server")
    if not interaction.permissions.manage_guild:
        raise AdminOnlyError(f"{interaction.user.id} lacks manage_guild")
    if writers and interaction.guild_id not in writers:
        raise ReadOnlyHereError(f"guild {interaction.guild_id} is not in KB_ADMIN_GUILD_IDS")
    return interaction.guild_id


EMBED_TOTAL_LIMIT = 6000


def _embed(title: str, description: str = "") -> discord.Embed:
    return discord.Embed(title=clip_line(title, 256), description=description or None, colour=KB_COLOUR)


class KbCog(FeatureCog):
    feature = "kb"

    kb = app_commands.Group(
        name="kb",
        description="Manage the knowledge base (Manage Server) · 管理知识库（需「管理服务器」权限）",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
        extras={"huayi": True},
    )

    async def cog_load(self) -> None:
        register_texts(ERRORS)

    @property
    def uploads_root(self) -> Path:
        return self.settings.data_dir / "uploads"

    async def _finish(self, interaction: discord.Interaction, content: str | None = None, **kwargs: Any) -> None:
        """The deferred reply; after the 15-minute token expires, a channel message instead."""
        if not interaction.is_expired():
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)
            return
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            lead = render(TEXTS, "late_result", interaction_lang(interaction), user=interaction.user.mention)
            await channel.send(f"{lead}\n{content or ''}", allowed_mentions=NO_MENTIONS, **kwargs)

    # /kb add ---------------------------------------------------------------------
    def _index_upload(self, path: Path) -> tuple[IndexSummary, int]:
        """Index incrementally (blocking); an upload the indexer skipped is removed again."""
        services = self.runtime.services
        services.build_index()
        summary = read_index_summary(self.settings.index_dir)
        key = source_key(path, services.sources)
        if summary is None or key is None:
            raise NoIndexError(f"no index after adding {path}")
        if key in summary.skipped:
            reason = summary.skipped[key]
            path.unlink(missing_ok=True)
            services.build_index()
            raise UnreadableUpload(reason)
        return summary, summary.chunks_of(key)

    @kb.command(name="add", description="Add a document to the knowledge base · 向知识库添加文档")
    @app_commands.describe(attachment="A .md, .txt, .pdf, .html or .docx file · .md、.txt、.pdf、.html 或 .docx 文件")
    async def add(self, interaction: discord.Interaction, attachment: discord.Attachment) -> None:
        guild_id = require_manager(interaction, self.settings.kb_admin_guild_ids)
        limit = self.settings.kb_upload_max_bytes
        name = check_declared(attachment.filename, attachment.size, limit)
        self.runtime.limiter.check("kb", interaction.user.id, guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await attachment.read()
        except discord.HTTPException as exc:
            log.warning("could not download upload %s: %s", attachment.id, exc)
            raise UploadRejected("download") from exc
        check_content(data, name, limit)
        await self.runtime.run_blocking(check_readable, data, name)
        lang = interaction_lang(interaction)
        started = time.perf_counter()
        async with self.runtime.knowledge_lock():
            stored = await self.runtime.run_blocking(store_upload, self.uploads_root / str(guild_id), name, data)
            if stored.duplicate:
                await self._finish(interaction, render(TEXTS, "duplicate", lang, name=stored.name))
                return
            try:
                summary, chunks = await self.runtime.run_blocking(self._index_upload, stored.path, lane="index")
            except Exception:
                stored.path.unlink(missing_ok=True)
                raise
        log.info("user %s added %s to the knowledge base of guild %s", interaction.user.id, stored.path, guild_id)
        text = added_message(
            stored.name, chunks, summary.documents, summary.chunks, time.perf_counter() - started, stored.renamed, lang
        )
        await self._finish(interaction, text)

    # /kb search ------------------------------------------------------------------
    def _search(self, query: str, top_k: int) -> SearchResult:
        services = self.runtime.services
        try:
            services.index(auto_build=False)
        except IndexMissingError as exc:
            raise NoIndexError(str(exc)) from exc
        return services.rag().searcher.search(query, top_k=top_k)

    @kb.command(name="search", description="Show the passages a question retrieves · 查看问题检索到的片段")
    @app_commands.describe(query="A question or keywords · 问题或关键词", top_k="How many passages (1–10) · 显示几条（1–10）")
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 1000], top_k: app_commands.Range[int, 1, 10] = 5
    ) -> None:
        guild_id = require_manager(interaction)
        query = validate_question(query, self.settings.rag_max_question_chars)
        self.runtime.limiter.check("kb", interaction.user.id, guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.runtime.run_blocking(self._search, query, top_k)
        lang = interaction_lang(interaction)
        description, fields = search_fields(result, lang)
        embed = _embed(render(TEXTS, "search_title", lang, query=clip_line(query, 200)), description)
        for item in fields:
            embed.add_field(name=item.name, value=item.value, inline=item.inline)
        while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
            embed.remove_field(-1)
        await self._finish(interaction, embed=embed)

    # /kb stats -------------------------------------------------------------------
    def _stats(self, guild_id: int) -> KbStats:
        services = self.runtime.services
        try:
            index = services.index(auto_build=False)
        except IndexMissingError as exc:
            raise NoIndexError(str(exc)) from exc
        stats = index.stats()
        summary = read_index_summary(self.settings.index_dir)
        skipped = len(stats.get("skipped") or {})
        return KbStats(
            documents=int(stats["documents"]) - skipped,
            chunks=int(stats["chunks"]),
            chunks_by_lang=dict(stats.get("chunks_by_lang") or {}),
            uploads_guild=count_uploads(self.uploads_root / str(guild_id)),
            uploads_total=count_uploads(self.uploads_root),
            built_at=summary.built_at if summary else None,
            skipped=skipped,
            embedding_model=str(stats.get("embedding_model") or ""),
            feedback=read_feedback(self.settings.database_path),
        )

    @kb.command(name="stats", description="Knowledge base size, uploads and feedback · 知识库规模、上传与反馈")
    async def stats(self, interaction: discord.Interaction) -> None:
        guild_id = require_manager(interaction)
        self.runtime.limiter.check("kb", interaction.user.id, guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats = await self.runtime.run_blocking(self._stats, guild_id)
        lang: Lang = interaction_lang(interaction)
        embed = _embed(render(TEXTS, "stats_title", lang))
        for item in stats_fields(stats, lang):
            embed.add_field(name=item.name, value=item.value, inline=item.inline)
        await self._finish(interaction, embed=embed)

    # /kb reindex -----------------------------------------------------------------
    @kb.command(name="reindex", description="Rebuild the whole index from scratch · 从头重建整个索引")
    async def reindex(self, interaction: discord.Interaction) -> None:
        guild_id = require_manager(interaction, self.settings.kb_admin_guild_ids)
        self.runtime.limiter.check("kb", interaction.user.id, guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        log.info("user %s started a full index rebuild from guild %s", interaction.user.id, guild_id)
        async with self.runtime.knowledge_lock():
            report = await self.runtime.run_blocking(self.runtime.services.build_index, True, lane="index")
        summary = await self.runtime.run_quick(read_index_summary, self.settings.index_dir)
        documents = summary.documents if summary else 0
        await self._finish(interaction, reindex_message(report, documents, interaction_lang(interaction)))
