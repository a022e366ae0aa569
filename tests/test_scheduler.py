"""The generation scheduler and its SQLite job store, against an in-process fake backend."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from PIL import Image

from imaging.backends.base import (
    Availability,
    CancelToken,
    GeneratedImage,
    GenerationResult,
    ImageBackend,
    ProgressCallback,
    ProgressEvent,
)
from imaging.errors import (
    GpuOutOfMemoryError,
    InvalidRequestError,
    JobNotFoundError,
    NotJobOwnerError,
    QueueFullError,
)
from imaging.jobs import Job, JobStore, request_from_json, request_to_json
from imaging.messages import render_error
from imaging.request import GenerationRequest
from imaging.scheduler import GenerationScheduler, JobEvent, QueueLimits

SQUARE = (1024, 1024)
PORTRAIT = (832, 1216)


class FakeBackend:
    """Records each call's prompts; optionally gated, failing per prompt, reporting progress from a thread."""

    name = "fake"

    def __init__(self, *, max_batch: int = 4, steps: int = 0, gated: bool = False, honours_cancel: bool = True) -> None:
        self.max_batch = max_batch
        self.honours_cancel = honours_cancel
        self.steps = steps
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.calls: list[list[str]] = []
        self.seeds: dict[str, tuple[int, ...]] = {}
        self.tokens: list[CancelToken | None] = []
        self.fail: dict[str, BaseException] = {}
        self.progress_threads: set[int] = set()

    def availability(self) -> Availability:
        return Availability(True)

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        self.calls.append([r.prompt for r in requests])
        self.tokens.append(cancel)
        for request in requests:
            self.seeds[request.prompt] = request.seeds
            if request.prompt in self.fail:
                raise self.fail[request.prompt]
        if progress is not None and self.steps:
            await asyncio.to_thread(self._denoise, progress, cancel)
        while not self.gate.is_set():
            if cancel is not None and self.honours_cancel:
                cancel.raise_if_cancelled()
            await asyncio.sleep(0.002)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return [
            GenerationResult(
                images=[GeneratedImage(Image.new("RGB", (8, 8), "pink"), seed) for seed in r.seeds],
                backend=self.name,
                model="fake-xl",
                sampler="euler",
                seconds=0.01,
            )
            for r in requests
        ]

    def _denoise(self, progress: ProgressCallback, cancel: CancelToken | None) -> None:
        for step in range(1, self.steps + 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            self.progress_threads.add(threading.get_ident())
            progress(ProgressEvent(step=step, total=self.steps, elapsed_s=0.1 * step))

    async def aclose(self) -> None:
        pass

    @property
    def order(self) -> list[str]:
        return [prompt for call in self.calls for prompt in call]


class Saver:
    def __init__(self) -> None:
        self.saved: list[str] = []
        self.fail: set[str] = set()

    async def __call__(self, job: Job, result: GenerationResult) -> dict[str, object]:
        if job.request.prompt in self.fail:
            raise OSError("disk full")
        self.saved.append(job.request.prompt)
        return {"paths": [f"{job.id}-{i}.png" for i in range(len(result.images))]}


def req(prompt: str, size: tuple[int, int] = SQUARE, count: int = 1, seed: int | None = None) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, width=size[0], height=size[1], steps=4, count=count, seed=seed)


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


async def finished(scheduler: GenerationScheduler, job_id: str) -> JobEvent:
    async def last() -> JobEvent:
        event = None
        async for event in scheduler.events(job_id):
            pass
        assert event is not None
        return event

    return await asyncio.wait_for(last(), 30.0)  # an upper bound only: a slow machine must not fail it


@pytest.fixture()
def db_path(tmp_path):
    """On tmpfs where there is one: the same SQLite semantics, without a busy disk's fsync stalls."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path / "huayi.sqlite3"
        return
    directory = Path(tempfile.mkdtemp(prefix="huayi-jobs-", dir=shm))
    try:
        yield directory / "huayi.sqlite3"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def open_store(path) -> JobStore:
    """`synchronous=NORMAL` keeps the tests fast on slow disks; durability against a process crash is the same."""
    return JobStore(path, synchronous="NORMAL")


@pytest.fixture()
async def store(db_path):
    async with open_store(db_path) as opened:
        yield opened


@pytest.fixture()
async def make_scheduler():
    made: list[GenerationScheduler] = []

    def make(backend: ImageBackend, store: JobStore, save: Saver | None = None, **limits: int) -> GenerationScheduler:
        scheduler = GenerationScheduler(backend, store, save or Saver(), QueueLimits(**limits))
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        await scheduler.aclose(timeout=2.0)


# -- fairness ----------------------------------------------------------------------------


async def test_newcomer_waits_at_most_one_job_of_a_heavy_user(store, make_scheduler):
    backend = FakeBackend(gated=True)
    scheduler = make_scheduler(backend, store, max_per_user=20, max_batch_images=1)
    await scheduler.start()
    await scheduler.submit("A", req("a0"))
    await wait_until(lambda: backend.calls == [["a0"]])
    for i in range(1, 11):
        await scheduler.submit("A", req(f"a{i}"))
    b = await scheduler.submit("B", req("b0"))

    assert scheduler.position(b.id) == 2
    assert scheduler.queue_length == 11
    backend.gate.set()
    await finished(scheduler, b.id)
    assert backend.order[:3] == ["a0", "a1", "b0"]


async def test_three_users_interleave_round_robin(store, make_scheduler):
    backend = FakeBackend()
    scheduler = make_scheduler(backend, store, max_batch_images=1)
    jobs = {}
    for user in "ABC":
        for i in range(3):
            jobs[f"{user}{i}"] = await scheduler.submit(user, req(f"{user}{i}"))

    assert scheduler.position(jobs["A0"].id) == 1
    assert scheduler.position(jobs["C0"].id) == 3
    assert scheduler.position(jobs["A1"].id) == 4
    assert scheduler.position(jobs["C2"].id) == 9
    await scheduler.start()
    await finished(scheduler, jobs["C2"].id)
    assert backend.order == ["A0", "B0", "C0", "A1", "B1", "C1", "A2", "B2", "C2"]


async def test_member_who_returns_joins_the_tail(store, make_scheduler):
    backend = FakeBackend(gated=True)
    scheduler = make_scheduler(backend, store, max_batch_images=1)
    await scheduler.start()
    await scheduler.submit("A", req("A0"))
    await wait_until(lambda: len(backend.calls) == 1)
    await scheduler.submit("A", req("A1"))
    await scheduler.submit("B", req("B0"))
    await scheduler.submit("B", req("B1"))
    c0 = await scheduler.submit("C", req("C0"))
    assert scheduler.position(c0.id) == 3
    backend.gate.set()
    await finished(scheduler, c0.id)
    await wait_until(lambda: scheduler.queue_length == 0 and not scheduler.running)
    assert backend.order == ["A0", "A1", "B0", "C0", "B1"]


# -- limits --------------------------------------------------------------------------------


async def test_per_user_and_global_limits(store, make_scheduler):
    scheduler = make_scheduler(FakeBackend(), store, max_per_user=2, max_total=3)
    await scheduler.submit("A", req("a0"))
    await scheduler.submit("A", req("a1"))
    with pytest.raises(QueueFullError) as user_full:
        await scheduler.submit("A", req("a2"))
    assert user_full.value.params == {"scope": "user", "limit": 2}
    assert "2" in render_error(user_full.value, "en")

    await scheduler.submit("B", req("b0"))
    with pytest.raises(QueueFullError) as global_full:
        await scheduler.submit("C", req("c0"))
    assert global_full.value.params == {"scope": "global", "limit": 3}
    assert render_error(global_full.value, "zh").startswith("队列已满")
    assert len(await store.list_unfinished()) == 3


async def test_invalid_request_is_refused_before_queueing(store, make_scheduler):
    scheduler = make_scheduler(FakeBackend(), store)
    with pytest.raises(InvalidRequestError):
        await scheduler.submit("A", GenerationRequest(prompt="peony", width=1000, height=1000))
    with pytest.raises(InvalidRequestError):
        await scheduler.submit("A", req("   "))
    assert await store.list_unfinished() == []


# -- batching ------------------------------------------------------------------------------


async def test_compatible_heads_share_one_call(store, make_scheduler):
    backend = FakeBackend()
    saver = Saver()
    scheduler = make_scheduler(backend, store, saver)
    jobs = [
        await scheduler.submit(user, req(user, size))
        for user, size in [("A", SQUARE), ("B", SQUARE), ("C", PORTRAIT), ("D", SQUARE), ("E", SQUARE), ("F", SQUARE)]
    ]
    await scheduler.submit("A", req("A-second"))
    await scheduler.start()
    for job in jobs:
        await finished(scheduler, job.id)

    assert backend.calls[:3] == [["A", "B", "D", "E"], ["C"], ["F", "A-second"]]
    for job in jobs:
        stored = await store.get(job.id)
        assert stored is not None and stored.status == "done"
        assert stored.result is not None
        assert stored.result["seeds"] == list(job.request.seeds)
        assert stored.result["paths"] == [f"{job.id}-0.png"]
        assert stored.result["backend"] == "fake"


async def test_batch_respects_image_budget_and_backend_max(store, make_scheduler):
    backend = FakeBackend(max_batch=4)
    scheduler = make_scheduler(backend, store, max_batch_images=4)
    a = await scheduler.submit("A", req("A3", count=3))
    await scheduler.submit("B", req("B2", count=2))
    c = await scheduler.submit("C", req("C1", count=1))
    await scheduler.start()
    await finished(scheduler, c.id)
    await wait_until(lambda: scheduler.stats()["done_total"] == 3)
    assert backend.calls == [["A3", "C1"], ["B2"]]
    assert len((await store.get(a.id)).result["seeds"]) == 3

    small = FakeBackend(max_batch=2)
    scheduler2 = make_scheduler(small, store, max_batch_images=4)
    last = None
    for user in "PQRS":
        last = await scheduler2.submit(user, req(user))
    await scheduler2.start()
    await finished(scheduler2, last.id)
    assert small.calls == [["P", "Q"], ["R", "S"]]


# -- events --------------------------------------------------------------------------------


async def test_progress_event_sequence(store, make_scheduler):
    backend = FakeBackend(steps=3)
    scheduler = make_scheduler(backend, store, max_batch_images=1)
    seen: list[JobEvent] = []
    seen_async: list[JobEvent] = []
    everything: list[JobEvent] = []

    async def slow_listener(event: JobEvent) -> None:
        await asyncio.sleep(0)
        seen_async.append(event)

    listener_threads: set[int] = set()
    scheduler.subscribe(None, everything.append)
    scheduler.subscribe(None, lambda event: listener_threads.add(threading.get_ident()))
    await scheduler.submit("A", req("first"))
    job = await scheduler.submit("B", req("second"), on_event=seen.append)
    scheduler.subscribe(job.id, slow_listener)
    await scheduler.start()
    await finished(scheduler, job.id)
    await wait_until(lambda: len(seen_async) == len(seen))

    assert [e.kind for e in seen] == ["queued", "queued", "started", "progress", "progress", "progress", "done"]
    assert [e.position for e in seen[:2]] == [2, 1]
    progress = [e for e in seen if e.kind == "progress"]
    assert [(e.step, e.total) for e in progress] == [(1, 3), (2, 3), (3, 3)]
    assert [e.eta_s for e in progress] == pytest.approx([0.2, 0.1, 0.0])
    assert seen[-1].job is not None and seen[-1].job.status == "done" and seen[-1].job.result
    assert [(e.kind, e.position, e.step) for e in seen_async] == [(e.kind, e.position, e.step) for e in seen]
    assert backend.progress_threads and threading.get_ident() not in backend.progress_threads
    assert listener_threads == {threading.get_ident()}
    assert {e.job_id for e in everything} == {job.id, (await store.list_by_user("A"))[0].id}


async def test_events_iterator_and_finished_job(store, make_scheduler):
    backend = FakeBackend(steps=2)
    scheduler = make_scheduler(backend, store)
    job = await scheduler.submit("A", req("peony"))
    stream = scheduler.events(job.id)
    first = await anext(stream)
    assert (first.kind, first.position) == ("queued", 1)
    await scheduler.start()
    kinds = [event.kind async for event in stream]
    assert kinds == ["started", "progress", "progress", "done"]

    replay = [event async for event in scheduler.events(job.id)]
    assert [e.kind for e in replay] == ["done"]
    with pytest.raises(JobNotFoundError):
        await anext(scheduler.events("nope"))


# -- cancellation --------------------------------------------------------------------------


async def test_owner_cancels_a_queued_job(store, make_scheduler):
    backend = FakeBackend(gated=True)
    scheduler = make_scheduler(backend, store)
    await scheduler.start()
    a0 = await scheduler.submit("A", req("a0"))
    await wait_until(lambda: scheduler.running == [a0.id])
    a1 = await scheduler.submit("A", req("a1", size=PORTRAIT))
    events: list[JobEvent] = []
    scheduler.subscribe(a1.id, events.append)

    with pytest.raises(NotJobOwnerError):
        await scheduler.cancel(a1.id, "B")
    with pytest.raises(JobNotFoundError):
        await scheduler.cancel("missing", "A")
    assert await scheduler.cancel(a1.id, "A") is True
    assert events[-1].kind == "cancelled"
    assert scheduler.position(a1.id) is None
    assert (await store.get(a1.id)).status == "cancelled"

    backend.gate.set()
    await finished(scheduler, a0.id)
    assert backend.order == ["a0"]
    assert await scheduler.cancel(a0.id, "A") is False
    assert await scheduler.cancel(a1.id, "A") is False


async def test_owner_cancels_a_running_job_and_worker_goes_on(store, make_scheduler):
    backend = FakeBackend(gated=True)
    scheduler = make_scheduler(backend, store)
    await scheduler.start()
    job = await scheduler.submit("A", req("tulip"))
    await wait_until(lambda: scheduler.running == [job.id])
    with pytest.raises(NotJobOwnerError):
        await scheduler.cancel(job.id, "B")
    assert await scheduler.cancel(job.id, "A") is True
    event = await finished(scheduler, job.id)
    assert event.kind == "cancelled"
    assert (await store.get(job.id)).status == "cancelled"

    backend.gate.set()
    after = await scheduler.submit("A", req("rose"))
    assert (await finished(scheduler, after.id)).kind == "done"
    assert scheduler.stats()["cancelled_total"] == 1


async def test_cancelling_one_job_of_a_batch_keeps_the_others(store, make_scheduler):
    backend = FakeBackend(gated=True)
    saver = Saver()
    scheduler = make_scheduler(backend, store, saver)
    a = await scheduler.submit("A", req("a"))
    b = await scheduler.submit("B", req("b"))
    await scheduler.start()
    await wait_until(lambda: len(backend.calls) == 1)
    assert await scheduler.cancel(a.id, "A") is True
    assert not backend.tokens[0].cancelled
    backend.gate.set()
    assert (await finished(scheduler, b.id)).kind == "done"
    stored_a = await store.get(a.id)
    assert stored_a.status == "cancelled" and stored_a.result is None
    assert saver.saved == ["b"]


# -- failures ------------------------------------------------------------------------------


async def test_failures_do_not_stop_the_worker(store, make_scheduler, caplog):
    backend = FakeBackend()
    backend.fail = {"oom": GpuOutOfMemoryError("CUDA OOM"), "bug": RuntimeError("kaboom")}
    saver = Saver()
    saver.fail = {"unsaved"}
    scheduler = make_scheduler(backend, store, saver, max_batch_images=1)
    oom = await scheduler.submit("A", req("oom"))
    bug = await scheduler.submit("B", req("bug"))
    unsaved = await scheduler.submit("C", req("unsaved"))
    ok = await scheduler.submit("D", req("ok"))
    with caplog.at_level(logging.WARNING, logger="imaging.scheduler"):
        await scheduler.start()
        events = [await finished(scheduler, job.id) for job in (oom, bug, unsaved, ok)]

    assert [e.kind for e in events] == ["failed", "failed", "failed", "done"]
    assert events[0].error.code == "gpu_out_of_memory" and isinstance(events[0].error, GpuOutOfMemoryError)
    assert events[1].error.code == "generation_failed" and "kaboom" in events[1].error.detail
    assert events[2].error.code == "generation_failed"
    stored = await store.get(oom.id)
    assert (stored.status, stored.error_code, stored.error_detail) == ("failed", "gpu_out_of_memory", "CUDA OOM")
    assert any(bug.id in record.getMessage() and record.exc_info for record in caplog.records)
    stats = scheduler.stats()
    assert (stats["done_total"], stats["failed_total"], stats["queued"], stats["running"]) == (1, 3, 0, 0)
    assert stats["mean_seconds"] is not None


# -- persistence ---------------------------------------------------------------------------


async def test_queued_jobs_survive_a_restart_with_their_seeds(db_path, make_scheduler):
    async with open_store(db_path) as store1:
        first = make_scheduler(FakeBackend(), store1)
        jobs = [await first.submit(user, req(f"{user}{i}")) for i in range(2) for user in "AB"]
        await first.set_meta(jobs[0].id, {"message_id": "42"})
        await first.aclose()

    backend = FakeBackend()
    async with open_store(db_path) as store2:
        second = make_scheduler(backend, store2)
        await second.start()
        for job in jobs:
            assert (await finished(second, job.id)).kind == "done"
        assert sorted(backend.order) == sorted(job.request.prompt for job in jobs)
        for job in jobs:
            assert backend.seeds[job.request.prompt] == job.request.seeds
        assert (await store2.get(jobs[0].id)).meta == {"message_id": "42"}


async def test_graceful_close_requeues_the_running_job(db_path, make_scheduler):
    backend = FakeBackend(gated=True)
    async with open_store(db_path) as store1:
        first = make_scheduler(backend, store1)
        await first.start()
        job = await first.submit("A", req("hydrangea"))
        await wait_until(lambda: first.running == [job.id])
        await first.aclose()
        assert backend.tokens[0].cancelled
        stored = await store1.get(job.id)
        assert (stored.status, stored.attempts) == ("queued", 0)


async def test_close_gives_up_on_a_stuck_backend_and_requeues(db_path, make_scheduler):
    backend = FakeBackend(gated=True, honours_cancel=False)
    async with open_store(db_path) as store1:
        first = make_scheduler(backend, store1)
        await first.start()
        job = await first.submit("A", req("orchid"))
        await wait_until(lambda: first.running == [job.id])
        await asyncio.wait_for(first.aclose(timeout=0.05), 30.0)  # gives up although the backend never returns
        stored = await store1.get(job.id)
        assert (stored.status, stored.attempts) == ("queued", 0)


async def test_crash_mid_run_is_retried_then_failed_as_interrupted(db_path, make_scheduler):
    backend = FakeBackend(gated=True)
    store1 = await open_store(db_path).open()
    first = make_scheduler(backend, store1)
    await first.start()
    job = await first.submit("A", req("camellia", seed=7))
    await wait_until(lambda: first.running == [job.id])
    await store1.close()
    await first.aclose()

    async with open_store(db_path) as store2:
        crashed = await store2.get(job.id)
        assert (crashed.status, crashed.attempts) == ("running", 1)
        stale = Job.new("B", req("lily").with_seeds())
        stale.status, stale.attempts = "running", 2
        await store2.add(stale)

        rerun = FakeBackend()
        second = make_scheduler(rerun, store2)
        events: list[JobEvent] = []
        second.subscribe(None, events.append)
        await second.start()
        assert (await finished(second, job.id)).kind == "done"
        assert rerun.seeds["camellia"] == (7,) == job.request.seeds
        assert "lily" not in rerun.order
        failed = await store2.get(stale.id)
        assert (failed.status, failed.error_code) == ("failed", "interrupted")
        assert [e.kind for e in events if e.job_id == stale.id] == ["failed"]
        assert (await store2.get(job.id)).attempts == 2


async def test_cancel_before_start_reaches_the_store(store, make_scheduler):
    leftover = Job.new("A", req("iris").with_seeds())
    await store.add(leftover)
    backend = FakeBackend()
    scheduler = make_scheduler(backend, store)
    with pytest.raises(NotJobOwnerError):
        await scheduler.cancel(leftover.id, "B")
    assert await scheduler.cancel(leftover.id, "A") is True
    await scheduler.start()
    await asyncio.sleep(0.02)
    assert backend.calls == []
    assert (await store.get(leftover.id)).status == "cancelled"


# -- the store -----------------------------------------------------------------------------


async def test_store_round_trip_and_queries(db_path):
    async with JobStore(db_path) as store:
        await _round_trip(store, db_path)


async def _round_trip(store: JobStore, db_path) -> None:
    request = GenerationRequest(prompt="牡丹", prompt_2="peony", count=2, seed=5, style_id="gongbi").with_seeds()
    assert request_from_json(request_to_json(request)) == request
    job = Job.new("A", request, guild_id=1, channel_id=2, meta={"locale": "zh"})
    assert len(job.id) <= 20
    await store.add(job)
    job.meta["ignored"] = True
    await store.mark_running(job, at=10.0)
    await store.set_meta(job.id, {"locale": "zh", "message_id": "9"})
    await store.mark_done(job, {"paths": ["x.png"]}, at=12.5)
    loaded = await store.get(job.id)
    assert loaded.request == request and loaded.request.seeds == (5, 6)
    assert (loaded.guild_id, loaded.channel_id, loaded.status, loaded.attempts) == ("1", "2", "done", 1)
    assert (loaded.started_at, loaded.finished_at, loaded.result) == (10.0, 12.5, {"paths": ["x.png"]})
    assert loaded.meta == {"locale": "zh", "message_id": "9"}

    later = Job.new("A", req("rose").with_seeds(), created_at=job.created_at + 1)
    await store.add(later)
    assert [j.id for j in await store.list_by_user("A", limit=5)] == [later.id, job.id]
    assert [j.id for j in await store.list_unfinished()] == [later.id]
    assert await store.delete(later.id) is True
    assert await store.delete(later.id) is False
    assert await store.get(later.id) is None

    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT count(*) FROM image_jobs").fetchone()[0] == 1
