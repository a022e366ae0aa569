"""What the generation scheduler costs, and what batching buys, measured on a CPU.

1. Overhead: with an instant backend, the time from `submit` to the "done" event minus the
   backend's own time, for jobs submitted one at a time (isolated) and for a burst of
   jobs from many members (throughput). It includes the SQLite writes of each job
   (insert, running, done) at the store's `synchronous` setting.
2. Batching: the same jobs with `max_batch_images=1` and with 4, against a simulated
   backend whose call costs `fixed + per_image` seconds (a sleep in a worker thread, like
   a GPU call), reporting progress from that thread like the local pipeline does.

`run(backend, ...)` takes any `ImageBackend`, so a real one can be measured the same way:
`asyncio.run(run(my_backend, jobs=20, users=4, max_batch_images=4, steps=30))`.

Run: `python benchmarks/queue_bench.py [--jobs 500] [--users 20] [--batch-jobs 40] ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from imaging.backends.base import (  # noqa: E402
    Availability,
    CancelToken,
    GeneratedImage,
    GenerationResult,
    ImageBackend,
    ProgressCallback,
    ProgressEvent,
)
from imaging.jobs import Job, JobStore  # noqa: E402
from imaging.request import GenerationRequest  # noqa: E402
from imaging.scheduler import GenerationScheduler, JobEvent, QueueLimits  # noqa: E402

_PIXEL = Image.new("RGB", (1, 1))


class SimulatedBackend:
    """Costs `fixed_s + per_image_s * images` per call in a worker thread; 0 and 0 make it instant."""

    name = "simulated"

    def __init__(self, fixed_s: float = 0.0, per_image_s: float = 0.0, *, max_batch: int = 4, steps: int = 0) -> None:
        self.fixed_s = fixed_s
        self.per_image_s = per_image_s
        self.max_batch = max_batch
        self.steps = steps

    def availability(self) -> Availability:
        return Availability(True)

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        cost = self.fixed_s + self.per_image_s * sum(r.count for r in requests)
        if cost > 0 or self.steps:
            await asyncio.to_thread(self._work, cost, progress, cancel)
        return [
            GenerationResult(
                images=[GeneratedImage(_PIXEL, seed) for seed in r.seeds],
                backend=self.name,
                model="none",
                sampler="none",
                seconds=cost,
            )
            for r in requests
        ]

    def _work(self, cost: float, progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        steps = max(1, self.steps)
        start = time.perf_counter()
        for step in range(1, steps + 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(max(0.0, start + cost * step / steps - time.perf_counter()))
            if progress is not None and self.steps:
                progress(ProgressEvent(step, steps, time.perf_counter() - start))

    async def aclose(self) -> None:
        pass


class _TimedBackend:
    """Wraps a backend to record how long each of its calls took, by prompt."""

    def __init__(self, inner: ImageBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = inner.max_batch
        self.calls = 0
        self.busy_s = 0.0
        self.call_s: dict[str, float] = {}

    def availability(self) -> Availability:
        return self.inner.availability()

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        start = time.perf_counter()
        try:
            return await self.inner.generate(requests, progress, cancel)
        finally:
            elapsed = time.perf_counter() - start
            self.calls += 1
            self.busy_s += elapsed
            for request in requests:
                self.call_s[request.prompt] = elapsed

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class BenchResult:
    jobs: int
    images: int
    calls: int
    wall_s: float
    backend_s: float
    failed: int
    overhead_ms: list[float] = field(default_factory=list)
    isolated_overhead_ms: list[float] = field(default_factory=list)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.wall_s if self.wall_s else float("inf")

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s if self.wall_s else float("inf")

    @property
    def scheduler_ms_per_job(self) -> float:
        """Wall time the backend was idle, per job: what the queue itself costs in a burst."""
        return max(0.0, self.wall_s - self.backend_s) / self.jobs * 1000 if self.jobs else 0.0


async def _no_save(job: Job, result: GenerationResult) -> dict[str, object]:
    return {}


async def run(
    backend: ImageBackend,
    *,
    jobs: int = 500,
    users: int = 20,
    isolated: int = 0,
    max_batch_images: int = 4,
    count: int = 1,
    size: tuple[int, int] = (1024, 1024),
    steps: int = 30,
    db_path: Path | None = None,
    synchronous: str = "FULL",
) -> BenchResult:
    """Run `isolated` jobs one at a time, then a burst of `jobs` jobs from `users` members.

    Overheads are submit→done latency minus the job's backend call; `wall_s` covers the burst only.
    """
    with tempfile.TemporaryDirectory(prefix="huayi-queue-bench-") as tmp:
        path = db_path or Path(tmp) / "huayi.sqlite3"
        timed = _TimedBackend(backend)
        async with JobStore(path, synchronous=synchronous) as store:  # type: ignore[arg-type]
            limits = QueueLimits(
                max_per_user=jobs + isolated, max_total=jobs + isolated, max_batch_images=max_batch_images
            )
            scheduler = GenerationScheduler(timed, store, _no_save, limits)
            submitted: dict[str, float] = {}
            finished: dict[str, float] = {}
            prompts: dict[str, str] = {}
            all_done = asyncio.Event()
            failed = 0
            expected = 0

            def on_event(event: JobEvent) -> None:
                nonlocal failed
                if event.terminal:
                    finished[event.job_id] = time.perf_counter()
                    failed += event.kind != "done"
                    if len(finished) >= expected:
                        all_done.set()

            scheduler.subscribe(None, on_event)
            await scheduler.start()
            try:
                def request(i: int) -> GenerationRequest:
                    return GenerationRequest(
                        prompt=f"bench peony {i}", width=size[0], height=size[1], steps=steps, count=count
                    )

                for i in range(isolated):
                    expected += 1
                    all_done.clear()
                    start = time.perf_counter()
                    job = await scheduler.submit("solo", request(-1 - i))
                    submitted[job.id], prompts[job.id] = start, job.request.prompt
                    await all_done.wait()
                isolated_ids = list(submitted)

                expected += jobs
                all_done.clear()
                burst_start = time.perf_counter()
                busy_before = timed.busy_s
                calls_before = timed.calls
                for i in range(jobs):
                    start = time.perf_counter()
                    job = await scheduler.submit(f"user{i % users}", request(i))
                    submitted[job.id], prompts[job.id] = start, job.request.prompt
                if jobs:
                    await all_done.wait()
                wall = (max(finished.values()) - burst_start) if jobs else 0.0
            finally:
                await scheduler.aclose()

        def overhead(job_id: str) -> float:
            latency = finished[job_id] - submitted[job_id]
            return (latency - timed.call_s.get(prompts[job_id], 0.0)) * 1000

        burst_ids = [j for j in submitted if j not in isolated_ids]
        return BenchResult(
            jobs=jobs,
            images=jobs * count,
            calls=timed.calls - calls_before,
            wall_s=wall,
            backend_s=timed.busy_s - busy_before,
            failed=failed,
            overhead_ms=[overhead(j) for j in burst_ids],
            isolated_overhead_ms=[overhead(j) for j in isolated_ids],
        )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


async def _main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir) if args.data_dir else None
    db = (data_dir / "queue_bench.sqlite3") if data_dir else None
    if db is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        db.unlink(missing_ok=True)

    print(f"scheduler overhead: instant backend, SQLite synchronous={args.synchronous}")
    result = await run(
        SimulatedBackend(steps=0), jobs=args.jobs, users=args.users, isolated=args.isolated,
        max_batch_images=1, db_path=db, synchronous=args.synchronous,
    )
    iso = result.isolated_overhead_ms
    if iso:
        print(
            f"  isolated, {len(iso)} jobs one at a time: submit→done minus backend "
            f"mean {statistics.mean(iso):.2f} ms, median {statistics.median(iso):.2f} ms, p95 {_p95(iso):.2f} ms"
        )
    print(
        f"  burst, {result.jobs} jobs from {args.users} members: {result.jobs_per_s:.0f} jobs/s, "
        f"{result.scheduler_ms_per_job:.2f} ms of queue time per job (wall {result.wall_s:.2f} s, "
        f"backend {result.backend_s:.2f} s, failed {result.failed})"
    )
    print(
        f"  burst submit→done latency minus backend (includes waiting in line): "
        f"mean {statistics.mean(result.overhead_ms):.1f} ms, p95 {_p95(result.overhead_ms):.1f} ms"
    )

    print(
        f"batching: simulated backend, {args.fixed_ms:.0f} ms per call + {args.per_image_ms:.0f} ms per image, "
        f"{args.batch_jobs} jobs from {args.batch_users} members, {args.steps} progress steps per call"
    )
    rates = {}
    for batch in (1, 4):
        if db is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        backend = SimulatedBackend(args.fixed_ms / 1000, args.per_image_ms / 1000, max_batch=4, steps=args.steps)
        res = await run(
            backend, jobs=args.batch_jobs, users=args.batch_users, max_batch_images=batch,
            db_path=db, synchronous=args.synchronous,
        )
        rates[batch] = res.images_per_s
        nominal = res.calls * args.fixed_ms / 1000 + res.images * args.per_image_ms / 1000
        print(
            f"  max_batch_images={batch}: {res.images_per_s:.1f} images/s ({res.calls} calls, wall {res.wall_s:.2f} s, "
            f"backend {res.backend_s:.2f} s vs {nominal:.2f} s nominal, failed {res.failed})"
        )
    print(f"  gain from batching: {rates[4] / rates[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500, help="burst size for the overhead test")
    parser.add_argument("--users", type=int, default=20, help="members submitting the burst")
    parser.add_argument("--isolated", type=int, default=100, help="jobs submitted one at a time first")
    parser.add_argument("--batch-jobs", type=int, default=40)
    parser.add_argument("--batch-users", type=int, default=8)
    parser.add_argument("--fixed-ms", type=float, default=50.0, help="simulated cost of one backend call")
    parser.add_argument("--per-image-ms", type=float, default=10.0, help="simulated cost of each image")
    parser.add_argument("--steps", type=int, default=10, help="progress reports per simulated call")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite durability")
    parser.add_argument("--data-dir", help="where the SQLite file goes (default: a temporary directory)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
