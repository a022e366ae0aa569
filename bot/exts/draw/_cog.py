"""/draw and its buttons: acknowledge at once, show the queue and progress, post the result."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands

from imaging.errors import ImagingError
from imaging.jobs import Job
from imaging.output import fit_to_limit
from imaging.request import MAX_SEED, SDXL_RESOLUTIONS, GenerationRequest, aspect_ratio
from imaging.scheduler import GenerationScheduler, JobEvent

from ...drawing import DrawSpec, plan_draw, planned_meta, precheck, submit_request
from ...errors import GoneError, NotAllowedError
from ...i18n import Lang, locale_lang, render
from ...replies import NO_MENTIONS, describe_error, interaction_lang, send_ephemeral
from .._feature import FeatureCog
from ._buttons import DrawButton, EditModal, cancel_view, result_view
from ._progress import EditThrottle, progress_line, queued_line
from ._result import image_paths, info_fields, result_card
from ._text import TEXTS

__all__ = ["DrawCog"]

log = logging.getLogger(__name__)
KIND = "draw"
RESULT_COLOUR = discord.Colour.from_rgb(214, 88, 120)
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
REQUEST_BODY_LIMIT = 25 * 1024 * 1024 - 512 * 1024
REDELIVER_WINDOW_S = 24 * 3600


def _size_choices() -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=f"{w}×{h} ({aspect_ratio(w, h)})", value=f"{w}x{h}") for w, h in SDXL_RESOLUTIONS
    ]


@dataclass
class LiveDraw:
    """A job whose interaction is still usable (its token lasts 15 minutes)."""

    interaction: discord.Interaction
    lang: Lang
    created: float
    throttle: EditThrottle
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DrawCog(FeatureCog):
    feature = "draw"
    token_window_s: float = 14 * 60  # a margin under the 15-minute interaction token

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live: dict[str, LiveDraw] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._terminal_seen: set[str] = set()
        self.scheduler: GenerationScheduler | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(DrawButton)
        # Autocomplete cannot be deferred and prechecks run before the defer: load what they use now.
        await self.runtime.run_blocking(self._warm_up)
        self.scheduler = await self.runtime.scheduler()
        self.scheduler.subscribe(None, self._on_event)
        self._spawn(self._report_missed())

    async def _report_missed(self) -> None:
        """Results and failures that ended while no process was listening (a stop, a crash, recovery)."""
        assert self.scheduler is not None
        try:
            jobs = await self.scheduler.store.list_finished_since(time.time() - REDELIVER_WINDOW_S)
        except Exception:
            log.exception("could not look for undelivered drawings")
            return
        for job in jobs:
            if job.meta.get("kind") == KIND and not job.meta.get("delivered") and job.id not in self._terminal_seen:
                self._terminal_seen.add(job.id)
                await self._handle(JobEvent(job.status, job.id, job=job))  # type: ignore[arg-type]

    def _warm_up(self) -> None:
        imaging = self.runtime.services.imaging
        len(imaging.styles)
        imaging.blocklist.match("")

    async def on_unload(self) -> None:
        if self.scheduler is not None:
            self.scheduler.unsubscribe(None, self._on_event)
        self.bot.remove_dynamic_items(DrawButton)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)

    # Commands ------------------------------------------------------------------
    @app_commands.command(name="draw", description="Draw floral art from your idea · 根据你的描述画一幅花艺作品", extras={"huayi": True})
    @app_commands.describe(
        prompt="What to draw, in Chinese or English · 想画什么（中文或英文）",
        style="Style template · 风格模板",
        size="Image size · 尺寸",
        count="How many images (1–4) · 张数",
        seed="Seed, to reproduce an image · 随机种子（用于复现）",
        negative="What to avoid · 不想出现的内容",
    )
    @app_commands.choices(size=_size_choices())
    @app_commands.checks.bot_has_permissions(send_messages=True, attach_files=True, embed_links=True)
    async def draw(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        style: str | None = None,
        size: str | None = None,
        count: app_commands.Range[int, 1, 4] = 1,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        negative: app_commands.Range[str, 0, 500] | None = None,
    ) -> None:
        spec = DrawSpec(prompt, style, size, count, seed, negative or "")
        # 1. Cheap refusals (blocklist, style, size, limits) are private and immediate.
        precheck(self.runtime, spec)
        self.runtime.limiter.check("draw", interaction.user.id, interaction.guild_id)
        await self._start(interaction, spec)

    @draw.autocomplete("style")
    async def _style_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        styles = self.runtime.services.imaging.styles
        return [app_commands.Choice(name=label[:100], value=key) for label, key in styles.choices(current, interaction_lang(interaction))]

    async def _start(self, interaction: discord.Interaction, spec: DrawSpec) -> None:
        # 2. Acknowledge within 3 s; planning (retrieval, CLIP) happens in a thread.
        await interaction.response.defer(thinking=True)
        planned = await plan_draw(self.runtime, spec, member=interaction.user.id)
        await self._queue(interaction, planned.request, meta=planned_meta(planned))

    async def _queue(self, interaction: discord.Interaction, request: GenerationRequest, *, meta: dict[str, Any]) -> Job:
        """Submit, remember the interaction for live updates, and show the queue position."""
        lang = interaction_lang(interaction)
        live = LiveDraw(interaction, lang, time.monotonic(), EditThrottle(self.settings.draw_progress_interval_s))
        job = await submit_request(
            self.runtime,
            request,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            kind=KIND,
            meta={**meta, "ui_lang": lang, "interaction_at": time.time()},
        )
        self.live[job.id] = live
        async with self._lock(job.id):
            scheduler = self.runtime.scheduler_if_open  # the job is stored: a stop now must not call it failed
            current = await scheduler.get(job.id) if scheduler is not None and job.id in self.live else None
            if scheduler is not None and current is not None and not current.finished:
                await self._edit_progress(live, job.id, queued_line(scheduler.position(job.id), lang))
        return job

    # Buttons -------------------------------------------------------------------
    async def _job(self, job_id: str) -> Job:
        scheduler = await self.runtime.scheduler()
        job = await scheduler.get(job_id)
        if job is None:
            raise GoneError(job_id)
        return job

    def _may_moderate(self, interaction: discord.Interaction, job: Job) -> bool:
        if str(interaction.user.id) == job.user_id:
            return True
        permissions = getattr(interaction, "permissions", None)
        return bool(permissions and permissions.manage_messages)

    async def on_button(self, interaction: discord.Interaction, action: str, job_id: str) -> None:
        job = await self._job(job_id)
        lang = interaction_lang(interaction)
        if action == "info":
            await interaction.response.send_message(embed=self._info_embed(job, lang), ephemeral=True, allowed_mentions=NO_MENTIONS)
        elif action == "delete":
            if not self._may_moderate(interaction, job):
                raise NotAllowedError(job_id)
            await interaction.response.defer(ephemeral=True, thinking=True)
            if interaction.message is not None:
                await interaction.message.delete()
            await interaction.followup.send(render(TEXTS, "deleted", lang), ephemeral=True)
        elif action == "cancel":
            scheduler = await self.runtime.scheduler()
            stopped = await scheduler.cancel(job_id, str(interaction.user.id))
            await send_ephemeral(interaction, render(TEXTS, "cancel_requested" if stopped else "already_finished", lang))
        elif action == "edit":
            modal = EditModal(job_id, str(job.meta.get("idea") or ""), lang, self.settings.image_max_idea_chars)
            await interaction.response.send_modal(modal)
        else:
            self.runtime.limiter.check("draw", interaction.user.id, interaction.guild_id)
            await interaction.response.defer(thinking=True)
            await self._queue(interaction, self._again(job, action), meta=_carried_meta(job))

    def _again(self, job: Job, action: str) -> GenerationRequest:
        """🔁 the same prompt with fresh random seeds; 🎲 four neighbours of the first seed."""
        request = job.request
        if action == "reroll":
            return dataclasses.replace(request, seed=None, seeds=())
        count = min(4, self.settings.image_max_count)
        base = ((request.seeds[0] if request.seeds else request.seed or 0) + request.count) % (MAX_SEED + 1)
        return dataclasses.replace(request, count=count, seed=base, seeds=())

    async def redraw_edited(self, interaction: discord.Interaction, job_id: str, idea: str) -> None:
        job = await self._job(job_id)
        spec = DrawSpec(
            idea,
            str(job.meta.get("style") or "") or None,
            str(job.meta.get("size") or "") or None,
            job.request.count,
            None,
            str(job.meta.get("negative") or ""),
        )
        precheck(self.runtime, spec)
        self.runtime.limiter.check("draw", interaction.user.id, interaction.guild_id)
        await self._start(interaction, spec)

    def _info_embed(self, job: Job, lang: Lang) -> discord.Embed:
        embed = discord.Embed(title=render(TEXTS, "info_title", lang), colour=RESULT_COLOUR)
        for name, value in info_fields(job, lang):
            embed.add_field(name=name, value=value or "—", inline=False)
        return embed

    # Scheduler events ----------------------------------------------------------------
    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    def _on_event(self, event: JobEvent) -> None:
        """Called by the scheduler for every job; Discord work runs in tasks, in order per job."""
        job = event.job
        if job is not None and job.meta.get("kind") != KIND:
            return
        live = self.live.get(event.job_id)
        if job is None and live is None:
            return
        if event.kind in ("progress", "queued") and (live is None or not live.throttle.due()):
            return
        if event.terminal:
            self._terminal_seen.add(event.job_id)
        self._spawn(self._handle(event))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, event: JobEvent) -> None:
        try:
            async with self._lock(event.job_id):
                await self._dispatch(event)
                if event.terminal and self.scheduler is not None:
                    await self.scheduler.set_meta(event.job_id, {"delivered": True})
        except Exception:
            log.exception("could not report %s of job %s to Discord", event.kind, event.job_id)
        finally:
            if event.terminal:
                self.live.pop(event.job_id, None)
                self._locks.pop(event.job_id, None)

    async def _dispatch(self, event: JobEvent) -> None:
        live = self.live.get(event.job_id)
        if event.kind == "queued" and live is not None:
            await self._edit_progress(live, event.job_id, queued_line(event.position, live.lang))
        elif event.kind == "started" and live is not None:
            await self._edit_progress(live, event.job_id, render(TEXTS, "started", live.lang))
        elif event.kind == "progress" and live is not None and event.step is not None and event.total:
            await self._edit_progress(live, event.job_id, progress_line(event.step, event.total, event.eta_s, live.lang))
        elif event.kind == "done" and event.job is not None:
            await self._deliver(event.job, live)
        elif event.kind in ("failed", "cancelled") and event.job is not None:
            lang = live.lang if live else _job_lang(event.job)
            if event.kind == "cancelled":
                text = render(TEXTS, "cancelled", lang)
            else:
                error = event.error or ImagingError(event.job.error_detail or "")
                text = render(TEXTS, "failed", lang, reason=describe_error(error, lang, f"job {event.job_id}"))
            if live is not None and self._token_fresh(live) and await self._edit_original(live, content=text, view=None):
                return
            if event.job.channel_id:
                await self._channel_send(event.job, content=f"<@{event.job.user_id}> {text}", mention_owner=True)

    def _token_fresh(self, live: LiveDraw) -> bool:
        return time.monotonic() - live.created < self.token_window_s

    async def _edit_progress(self, live: LiveDraw, job_id: str, text: str) -> None:
        if self._token_fresh(live):
            await self._edit_original(live, content=text, view=cancel_view(job_id, live.lang))

    async def _edit_original(self, live: LiveDraw, **kwargs: Any) -> bool:
        try:
            await live.interaction.edit_original_response(allowed_mentions=NO_MENTIONS, **kwargs)
            return True
        except discord.HTTPException as exc:
            log.info("interaction message edit refused (%s); later updates go to the channel", exc)
            live.created = -self.token_window_s  # stop using the token
            return False

    # Delivery ------------------------------------------------------------------------
    def _file_limit(self, live: LiveDraw | None, job: Job) -> int:
        if live is not None:
            return int(live.interaction.filesize_limit)
        guild = self.bot.get_guild(int(job.guild_id)) if job.guild_id else None
        return int(guild.filesize_limit) if guild is not None else DEFAULT_FILE_LIMIT

    def _files(self, job: Job, limit: int) -> list[discord.File]:
        """The images, re-encoded where needed so each fits the upload limit (blocking: call in a thread)."""
        paths = image_paths(job)
        per_file = min(limit, REQUEST_BODY_LIMIT // max(1, len(paths)))
        files = []
        for n, path in enumerate(paths):
            encoded = fit_to_limit(path, per_file)
            files.append(discord.File(io.BytesIO(encoded.data), filename=f"huayi-{job.id}-{n}{encoded.filename_suffix}"))
        return files

    def _result_embed(self, job: Job, lang: Lang, first_file: str | None) -> discord.Embed:
        style_id = str(job.meta.get("style") or job.request.style_id or "")
        try:
            style_name = self.runtime.services.imaging.style(style_id).label(lang)
        except ImagingError:
            style_name = style_id or "—"
        card = result_card(job, style_name, lang)
        description = card.description if card.fallback_note is None else f"{card.fallback_note}\n\n{card.description}"
        embed = discord.Embed(title=card.title, description=description, colour=RESULT_COLOUR)
        for name, value in card.fields:
            embed.add_field(name=name, value=value, inline=True)
        if first_file and len(image_paths(job)) == 1:
            embed.set_image(url=f"attachment://{first_file}")
        return embed

    async def _deliver(self, job: Job, live: LiveDraw | None) -> None:
        lang = live.lang if live else _job_lang(job)
        files = await asyncio.to_thread(self._files, job, self._file_limit(live, job))
        embed = self._result_embed(job, lang, files[0].filename if files else None)
        view = result_view(job.id, lang)
        if live is not None and self._token_fresh(live):
            if await self._edit_original(live, content=None, embed=embed, attachments=files, view=view):
                return
            files = await asyncio.to_thread(self._files, job, self._file_limit(None, job))
        await self._channel_send(
            job, content=render(TEXTS, "late_result", lang, owner=f"<@{job.user_id}>"), embed=embed, files=files, view=view, mention_owner=True
        )

    async def _channel_send(self, job: Job, *, mention_owner: bool = False, **kwargs: Any) -> None:
        """After the interaction token expired (or a restart), results go out as channel messages."""
        if not job.channel_id:
            log.warning("job %s finished but has no channel to report to", job.id)
            return
        channel = self.bot.get_channel(int(job.channel_id)) or await self.bot.fetch_channel(int(job.channel_id))
        mentions = (
            discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(int(job.user_id))])
            if mention_owner
            else NO_MENTIONS
        )
        await channel.send(allowed_mentions=mentions, **kwargs)  # type: ignore[union-attr]


def _job_lang(job: Job) -> Lang:
    return locale_lang(job.meta.get("ui_lang") or job.meta.get("lang") or "en")


def _carried_meta(job: Job) -> dict[str, Any]:
    """What a re-roll or variation keeps from the job it came from."""
    keep = ("idea", "style", "size", "negative", "lang", "plan_notes")
    return {key: job.meta[key] for key in keep if key in job.meta} | {"parent": job.id}
