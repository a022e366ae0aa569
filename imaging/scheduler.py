"""One GPU, many members: a fair, batching, cancellable, persistent generation queue.

Fairness: each member has a FIFO queue, and members with queued jobs form a ring that is
served round-robin. The worker pops the member at the head of the ring, runs their oldest
job and puts them back at the tail; a member who joins goes to the tail too, which is right
after the member currently being served. So a newcomer waits for at most one job of each
member already waiting (plus the job already running), however many those members queued.

Batching: the worker may add to that job the *head* jobs of the members next in the ring
whose `batch_key()` matches, up to `max_batch_images` images (and the backend's
`max_batch`). Those members count as served and move to the tail; a member is never served
twice in one batch, so batching only ever makes jobs start earlier.

Cancelling a job in a batch does not stop the GPU call (the others still want their
images): the batch finishes and the cancelled job's images are discarded. Only when every
job of the call is cancelled is the backend's `CancelToken` set.

State lives in `JobStore` first and in memory second: `start()` re-queues what a previous
process accepted, and a job interrupted by a crash `max_attempts` times is failed
("interrupted") rather than crashing the GPU forever.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .backends.base import CancelToken, GenerationResult, ImageBackend, ProgressEvent
from .errors import (
    BackendUnavailableError,
    GenerationFailedError,
    ImagingError,
    JobCancelledError,
    JobNotFoundError,
    NotJobOwnerError,
    QueueFullError,
)
from .jobs import Job, JobStore
from .request import GenerationRequest

__all__ = [
    "QueueLimits",
    "JobEvent",
    "EventKind",
    "EventCallback",
    "SaveHook",
    "JobInterruptedError",
    "GenerationScheduler",
]

logger = logging.getLogger(__name__)

EventKind = Literal["queued", "started", "progress", "done", "failed", "cancelled"]
TERMINAL_KINDS: frozenset[str] = frozenset({"done", "failed", "cancelled"})
SaveHook = Callable[[Job, GenerationResult], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class QueueLimits:
    """Per-member and global caps count unfinished jobs (queued or running)."""

    max_per_user: int = 5
    max_total: int = 100
    max_batch_images: int = 4
    max_attempts: int = 2


@dataclass(frozen=True)
class JobEvent:
    """What happened to a job.

    `position` (queued only) is 1-based: 1 means "starts next". `job` is a snapshot of the
    job (None on progress events); `error` is set on "failed".
    """

    kind: EventKind
    job_id: str
    position: int | None = None
    step: int | None = None
    total: int | None = None
    eta_s: float | None = None
    job: Job | None = None
    error: ImagingError | None = None

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS


EventCallback = Callable[[JobEvent], "Awaitable[None] | None"]


class JobInterruptedError(ImagingError):
    """The process stopped while the job was running, `max_attempts` times."""

    code = "interrupted"


class _Subscriber:
    """Calls a sync callback at once; awaits an async one's coroutines in order, one at a time."""

    def __init__(self, callback: EventCallback, tasks: set[asyncio.Task[None]]) -> None:
        self.callback = callback
        self._tasks = tasks
        self._pending: deque[Awaitable[None]] = deque()
        self._draining = False
        self.positions: dict[str, int] = {}

    def deliver(self, event: JobEvent) -> None:
        try:
            outcome = self.callback(event)
        except Exception:
            logger.exception("job event listener failed on %s for job %s", event.kind, event.job_id)
            return
        if inspect.isawaitable(outcome):
            self._pending.append(outcome)
            if not self._draining:
                self._draining = True
                task = asyncio.get_running_loop().create_task(self._drain())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._pending:
                try:
                    await self._pending.popleft()
                except Exception:
                    logger.exception("async job event listener failed")
        finally:
            self._draining = False


class GenerationScheduler:
    """Owns the queue and the single worker in front of one `ImageBackend`.

    The backend and the store belong to the caller: `aclose()` closes neither.
    """

    def __init__(
        self,
        backend: ImageBackend,
        store: JobStore,
        save: SaveHook,
        limits: QueueLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.store = store
        self.save = save
        self.limits = limits or QueueLimits()
        self.clock = clock
        self._active: dict[str, Job] = {}
        self._queues: dict[str, deque[Job]] = {}
        self._ring: deque[str] = deque()
        self._running: dict[str, Job] = {}
        self._cancel_requested: set[str] = set()
        self._token: CancelToken | None = None
        self._subscribers: dict[str | None, list[_Subscriber]] = {}
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._recovery_lock = asyncio.Lock()
        self._done_total = 0
        self._failed_total = 0
        self._cancelled_total = 0
        self._run_seconds_total = 0.0

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Re-queue what the last process left unfinished, then start the one worker."""
        if self._worker is not None:
            return
        if self._closing:
            raise RuntimeError("scheduler was closed")
        await self._recover()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="huayi-image-worker")

    async def _recover(self) -> None:
        async with self._recovery_lock:
            await self._recover_locked()

    async def _recover_locked(self) -> None:
        for job in await self.store.list_unfinished():
            if job.id in self._active:
                continue
            if job.status == "running" and job.attempts >= self.limits.max_attempts:
                error = JobInterruptedError(f"interrupted {job.attempts} times while running")
                await self.store.mark_failed(job, error.code, error.detail, at=self.clock())
                self._failed_total += 1
                logger.warning("job %s failed: interrupted %d times", job.id, job.attempts)
                self._emit(JobEvent("failed", job.id, job=job.snapshot(), error=error))
                continue
            if job.status == "running":
                await self.store.mark_queued(job)
            self._active[job.id] = job
            self._enqueue(job)
        if self._active:
            logger.info("recovered %d unfinished image jobs", len(self._active))
        self._publish_positions()

    async def aclose(self, timeout: float = 30.0) -> None:
        """Stop the worker; a running generation is cancelled and its jobs stay queued for the next start."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._token is not None:
            self._token.cancel()
        worker = self._worker
        if worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(worker), timeout)
            except TimeoutError:
                logger.warning("image worker did not stop within %.0f s; cancelling it", timeout)
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
        if self._listener_tasks:
            await asyncio.wait(set(self._listener_tasks), timeout=1.0)

    async def __aenter__(self) -> GenerationScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- submitting and cancelling ---------------------------------------------------------
    async def submit(
        self,
        user_id: str,
        request: GenerationRequest,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        on_event: EventCallback | None = None,
    ) -> Job:
        """Validate, persist and queue a request; `on_event` is subscribed before the "queued" event.

        Raises InvalidRequestError or QueueFullError (`scope` "user" or "global", `limit`).
        """
        if self._closing:
            raise BackendUnavailableError("the image queue is shutting down")
        request.check_inputs()
        request = request.with_seeds()
        user_id = str(user_id)
        limits = self.limits
        if len(self._active) >= limits.max_total:
            raise QueueFullError(f"{len(self._active)} unfinished jobs", scope="global", limit=limits.max_total)
        mine = sum(1 for job in self._active.values() if job.user_id == user_id)
        if mine >= limits.max_per_user:
            raise QueueFullError(f"{mine} unfinished jobs of {user_id}", scope="user", limit=limits.max_per_user)
        job = Job.new(user_id, request, guild_id=guild_id, channel_id=channel_id, meta=meta, created_at=self.clock())
        self._active[job.id] = job
        try:
            await self.store.add(job)
        except BaseException:
            self._active.pop(job.id, None)
            raise
        if on_event is not None:
            self.subscribe(job.id, on_event)
        if job.status == "queued":
            self._enqueue(job)
            self._wake.set()
            self._publish_positions()
        return job

    async def cancel(self, job_id: str, user_id: str) -> bool:
        """Cancel the member's own job: True if it is cancelled or will stop, False if already finished."""
        user_id = str(user_id)
        job = self._active.get(job_id) or await self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job.user_id != user_id:
            raise NotJobOwnerError(job_id)
        if job.id not in self._active:
            return await self._cancel_stored(job_id)
        if job.finished:
            return False
        if job.id in self._running:
            self._cancel_requested.add(job.id)
            if self._token is not None and self._cancel_requested.issuperset(self._running):
                self._token.cancel()
            return True
        self._dequeue(job)
        await self._finish_cancelled(job)
        self._publish_positions()
        return True

    async def _cancel_stored(self, job_id: str) -> bool:
        """A job this process has not taken up (not started yet, or before recovery): cancel it in the store."""
        async with self._recovery_lock:
            if job_id in self._active:
                return await self.cancel(job_id, self._active[job_id].user_id)
            job = await self.store.get(job_id)
            if job is None or job.finished:
                return False
            await self._finish_cancelled(job)
            return True

    async def set_meta(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        """Merge front-end data (message ids, locale…) into the job and persist it."""
        job = self._active.get(job_id) or await self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        job.meta.update(changes)
        await self.store.set_meta(job.id, job.meta)
        return job

    async def get(self, job_id: str) -> Job | None:
        job = self._active.get(job_id)
        return job.snapshot() if job is not None else await self.store.get(job_id)

    # -- events --------------------------------------------------------------------------
    def subscribe(self, job_id: str | None, callback: EventCallback) -> None:
        """Call `callback` (sync, or async: awaited in order) with the job's events; None = every job.

        A listener hears a "queued" event whenever the job's position differs from the last one it was told.
        """
        self._subscribe(job_id, callback)

    def _subscribe(self, job_id: str | None, callback: EventCallback) -> _Subscriber:
        subscriber = _Subscriber(callback, self._listener_tasks)
        self._subscribers.setdefault(job_id, []).append(subscriber)
        return subscriber

    def unsubscribe(self, job_id: str | None, callback: EventCallback) -> None:
        subs = self._subscribers.get(job_id, [])
        self._subscribers[job_id] = [s for s in subs if s.callback != callback]
        if not self._subscribers[job_id]:
            del self._subscribers[job_id]

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's current state, then each event, ending after a terminal one."""
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        subscriber = self._subscribe(job_id, queue.put_nowait)
        try:
            job = self._active.get(job_id)
            if job is None:
                stored = await self.store.get(job_id)
                if stored is None:
                    raise JobNotFoundError(job_id)
                if stored.finished:
                    yield self._state_event(stored)
                    return
            else:
                event = self._state_event(job)
                if event.position is not None:
                    subscriber.positions[job_id] = event.position
                yield event
            while True:
                event = await queue.get()
                yield event
                if event.terminal:
                    return
        finally:
            self.unsubscribe(job_id, queue.put_nowait)

    def _state_event(self, job: Job) -> JobEvent:
        if job.status == "queued":
            return JobEvent("queued", job.id, position=self.position(job.id), job=job.snapshot())
        if job.status == "running":
            return JobEvent("started", job.id, job=job.snapshot())
        error = None if job.status != "failed" else _stored_error(job)
        return JobEvent(job.status, job.id, job=job.snapshot(), error=error)

    def _emit(self, event: JobEvent) -> None:
        for key in (event.job_id, None):
            for sub in list(self._subscribers.get(key, ())):
                sub.deliver(event)
        if event.terminal:
            self._subscribers.pop(event.job_id, None)
            for sub in self._subscribers.get(None, ()):
                sub.positions.pop(event.job_id, None)

    def _publish_positions(self) -> None:
        """Tell listeners of every queued job whose place in line changed."""
        if not self._subscribers:
            return
        everyone = self._subscribers.get(None, [])
        for index, job in enumerate(self._fair_order(), start=1):
            event: JobEvent | None = None
            for sub in [*self._subscribers.get(job.id, ()), *everyone]:
                if sub.positions.get(job.id) != index:
                    sub.positions[job.id] = index
                    event = event or JobEvent("queued", job.id, position=index, job=job.snapshot())
                    sub.deliver(event)

    # -- introspection -------------------------------------------------------------------
    def position(self, job_id: str) -> int | None:
        """1 + how many queued jobs start before this one (ignoring batching, which only helps); None unless queued."""
        for index, job in enumerate(self._fair_order(), start=1):
            if job.id == job_id:
                return index
        return None

    @property
    def queue_length(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def running(self) -> list[str]:
        return list(self._running)

    def stats(self) -> dict[str, Any]:
        return {
            "queued": self.queue_length,
            "running": len(self._running),
            "done_total": self._done_total,
            "failed_total": self._failed_total,
            "cancelled_total": self._cancelled_total,
            "mean_seconds": self._run_seconds_total / self._done_total if self._done_total else None,
        }

    # -- the fair queue ------------------------------------------------------------------
    def _enqueue(self, job: Job) -> None:
        queue = self._queues.setdefault(job.user_id, deque())
        if not queue:
            self._ring.append(job.user_id)
        queue.append(job)

    def _dequeue(self, job: Job) -> None:
        queue = self._queues.get(job.user_id)
        if queue is None or job not in queue:
            return
        queue.remove(job)
        if not queue:
            del self._queues[job.user_id]
            self._ring.remove(job.user_id)

    def _fair_order(self) -> list[Job]:
        """The order queued jobs would start in: round after round over the ring."""
        order: list[Job] = []
        users = list(self._ring)
        depth = 0
        while users:
            remaining = []
            for user in users:
                queue = self._queues[user]
                order.append(queue[depth])
                if depth + 1 < len(queue):
                    remaining.append(user)
            users = remaining
            depth += 1
        return order

    def _take_batch(self) -> list[Job]:
        """The next job in fair order, plus matching heads of the members after it in the ring."""
        user = self._ring.popleft()
        first = self._queues[user].popleft()
        batch, served = [first], [user]
        key = first.request.batch_key()
        room = min(self.limits.max_batch_images, max(1, self.backend.max_batch)) - first.request.count
        for other in list(self._ring):
            if room <= 0:
                break
            head = self._queues[other][0]
            if head.request.count <= room and head.request.batch_key() == key:
                self._queues[other].popleft()
                self._ring.remove(other)
                batch.append(head)
                served.append(other)
                room -= head.request.count
        for member in served:
            if self._queues[member]:
                self._ring.append(member)
            else:
                del self._queues[member]
        return batch

    # -- the worker ----------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            while not self._ring and not self._closing:
                self._wake.clear()
                await self._wake.wait()
            if self._closing:
                return
            batch = self._take_batch()
            for job in batch:
                job.status = "running"
                self._running[job.id] = job
            self._publish_positions()
            try:
                await self._run_batch(batch)
            except asyncio.CancelledError:
                await self._requeue_after_shutdown([j for j in batch if j.id in self._running])
                raise
            except Exception as exc:
                logger.exception("image worker error on jobs %s", [j.id for j in batch])
                await self._finish_all_failed(
                    [j for j in batch if j.id in self._running], GenerationFailedError(f"{type(exc).__name__}: {exc}")
                )
            finally:
                for job in batch:
                    self._running.pop(job.id, None)
                    self._cancel_requested.discard(job.id)
                self._token = None

    async def _run_batch(self, batch: list[Job]) -> None:
        token = CancelToken()
        self._token = token
        if self._closing:
            token.cancel()
        started = self.clock()
        for job in batch:
            await self._write(job, self.store.mark_running(job, at=started))
            self._emit(JobEvent("started", job.id, job=job.snapshot()))
        if self._cancel_requested.issuperset(j.id for j in batch):
            token.cancel()
        ids = tuple(job.id for job in batch)
        loop = asyncio.get_running_loop()

        def progress(event: ProgressEvent) -> None:
            try:
                loop.call_soon_threadsafe(self._emit_progress, ids, event)
            except RuntimeError:
                pass

        try:
            results = await self.backend.generate([job.request for job in batch], progress, token)
            if len(results) != len(batch):
                raise GenerationFailedError(f"backend returned {len(results)} results for {len(batch)} requests")
        except JobCancelledError as exc:
            if self._closing:
                await self._requeue_after_shutdown([j for j in batch if j.id not in self._cancel_requested])
            for job in batch:
                if job.id in self._cancel_requested:
                    await self._finish_cancelled(job)
                elif not self._closing:
                    await self._finish_failed(job, exc)
            return
        except ImagingError as exc:
            logger.warning("generation failed for jobs %s: %s %s", list(ids), exc.code, exc.detail)
            await self._finish_all_failed(batch, exc)
            return
        except Exception as exc:
            logger.exception("generation failed for jobs %s", list(ids))
            await self._finish_all_failed(batch, GenerationFailedError(f"{type(exc).__name__}: {exc}"))
            return
        for job, result in zip(batch, results, strict=True):
            if job.id in self._cancel_requested:
                await self._finish_cancelled(job)
                continue
            try:
                saved = await self.save(job, result)
            except Exception as exc:
                logger.exception("saving the images of job %s failed", job.id)
                error = exc if isinstance(exc, ImagingError) else GenerationFailedError(f"{type(exc).__name__}: {exc}")
                await self._finish_failed(job, error)
                continue
            await self._finish_done(job, {**_result_summary(result), **saved})

    def _emit_progress(self, ids: Sequence[str], event: ProgressEvent) -> None:
        for job_id in ids:
            if job_id in self._running and job_id not in self._cancel_requested:
                self._emit(
                    JobEvent("progress", job_id, step=event.step, total=event.total, eta_s=event.eta_s)
                )

    async def _finish_all_failed(self, batch: Iterable[Job], error: ImagingError) -> None:
        for job in batch:
            if job.id in self._cancel_requested:
                await self._finish_cancelled(job)
            else:
                await self._finish_failed(job, error)

    async def _finish_done(self, job: Job, result: dict[str, Any]) -> None:
        await self._write(job, self.store.mark_done(job, result, at=self.clock()))
        self._done_total += 1
        if job.started_at is not None and job.finished_at is not None:
            self._run_seconds_total += max(0.0, job.finished_at - job.started_at)
        self._retire(job)
        self._emit(JobEvent("done", job.id, job=job.snapshot()))

    async def _finish_failed(self, job: Job, error: ImagingError) -> None:
        await self._write(job, self.store.mark_failed(job, error.code, error.detail, at=self.clock()))
        self._failed_total += 1
        self._retire(job)
        self._emit(JobEvent("failed", job.id, job=job.snapshot(), error=error))

    async def _finish_cancelled(self, job: Job) -> None:
        await self._write(job, self.store.mark_cancelled(job, at=self.clock()))
        self._cancelled_total += 1
        self._retire(job)
        self._emit(JobEvent("cancelled", job.id, job=job.snapshot()))

    async def _requeue_after_shutdown(self, jobs: Sequence[Job]) -> None:
        """A shutdown is no attempt of the job's: it goes back to the queue with its attempt refunded."""
        for job in jobs:
            job.attempts = max(0, job.attempts - 1)
            await self._write(job, self.store.mark_queued(job))
            self._running.pop(job.id, None)
            queue = self._queues.setdefault(job.user_id, deque())
            if not queue:
                self._ring.appendleft(job.user_id)
            queue.appendleft(job)

    async def _write(self, job: Job, write: Awaitable[None]) -> None:
        """A failed store write is logged, not raised: the worker must keep serving."""
        try:
            await write
        except Exception:
            logger.exception("could not record status %r of job %s", job.status, job.id)

    def _retire(self, job: Job) -> None:
        self._active.pop(job.id, None)
        self._running.pop(job.id, None)


def _result_summary(result: GenerationResult) -> dict[str, Any]:
    return {
        "backend": result.backend,
        "model": result.model,
        "seconds": result.seconds,
        "seeds": [image.seed for image in result.images],
        "fallback_reason": result.fallback_reason,
    }


def _stored_error(job: Job) -> ImagingError:
    error = ImagingError(job.error_detail or "")
    error.code = job.error_code or ImagingError.code
    return error
