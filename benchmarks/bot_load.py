"""Load on the real Huayi bot: a burst of concurrent /ask and /draw from many members.

The bot runs in this process, started through the production `serve` coroutine by
`tests.bot_harness.bot_running`, against the loopback Discord emulator
(`tests.discord_emulator`), with the real MiniLM embeddings, a small bilingual knowledge
base (`tests.conftest.SMALL_DOCS`) and, for /draw, the *tiny random-weight* SDXL pipeline
from `tests.tiny_sdxl` on the CPU (2 steps, 1024x1024, the SDXL minimum). No real SDXL
weights are loaded, so image times say what the queue, Discord and the bot add around a
model, not what a real model costs (see benchmarks/sdxl_gpu.py for that).

What happens:

1. build the tiny pipeline (once, in a child process; cached) and the embeddings, import
   torch/diffusers, start the emulator (with `--users` extra members) and the bot with
   rate limits and per-member queue caps set out of the way (the bot preloads the pipeline
   before connecting unless IMAGE_PRELOAD is off: `--no-preload`); build the index in a thread;
2. warm-up (unless `--cold`): one /ask and one /draw from a member outside the benchmark,
   so the burst sees a warm bot; RSS is read before and after each step, which splits
   what the tiny pipeline costs into import, load and first image;
3. the burst: `--asks` /ask and `--draws` /draw dispatched at once (asks interleaved with
   draws; each member's draws back to back, as someone pressing /draw twice would),
   spread round-robin over `--users` members; then wait until every answer and image is
   posted (or `--timeout`).

Figures (printed, never asserted; targets are printed next to them):

* time to acknowledge: `InteractionRecord.dispatched_at` (the emulator timestamps
  INTERACTION_CREATE before sending it) → `acknowledged_at` (the callback arrived at the
  emulator), p50/p99 for /ask, /draw and both; target p99 < 500 ms on this machine
  (Discord itself drops an interaction that is not acknowledged within 3 s);
* completion: dispatch → the original response carries the answer embed (/ask) or the
  image attachment (/draw), observed by polling every 50 ms;
* /draw fairness across members: each member's first image (time and order of arrival),
  mean completion rank, mean wait, Jain's index over per-member mean wait (1.0 = equal),
  with the index the scheduler's own round-robin + batching rule would give for the same
  submission order in unit-time batches, and the one plain FIFO would give;
* the event loop's lag (a 20 ms ticker's overshoot) during the burst, i.e. stalls that
  delay acks and heartbeats, with where the loop thread was during them, garbage
  collections, the thread pools' backlog and how busy the machine was (a shared VM
  stalls even an idle loop: an idle baseline is measured just before the burst);
* RSS of this process (VmRSS from /proc/self/status; VmHWM for the peak). The emulator,
  the test harness and the embeddings model share the process, so RSS includes them.

Run: `python benchmarks/bot_load.py [--asks 50] [--draws 20] [--users 10] [--data-dir DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ACK_TARGET_MS = 500.0
LOADING_FLAG = 1 << 7  # MessageFlag.LOADING: the deferred "is thinking…" placeholder
# Measuring wakes the loop; each wake-up has to win the GIL back from busy worker threads, so
# keep the benchmark's own timers coarse: completion is seen within 50 ms, stalls with a 20 ms ticker.
POLL_S = 0.05
LAG_TICK_S = 0.02

ASK_QUESTIONS = {
    "en": [
        "How long does peony last in a vase?",
        "Is peony toxic to cats?",
        "Why do tulips bend in the vase?",
        "What carries more visual weight in an arrangement?",
        "How do I revive a wilted hydrangea?",
    ],
    "zh": [
        "牡丹在花瓶里能开几天？",
        "牡丹对猫有毒吗？",
        "剑山怎么用？",
        "粗枝怎么插上剑山？",
        "牡丹剪切后怎么处理？",
    ],
}
DRAW_PROMPTS = {
    "en": [
        "white peony in a black ceramic vase",
        "red tulips in a glass jar on a windowsill",
        "asymmetric ikebana with a single branch",
        "blue hydrangea bouquet with eucalyptus",
    ],
    "zh": [
        "白色牡丹，黑色花器",
        "粉色郁金香插在玻璃瓶里",
        "剑山上的一枝梅花",
        "秋天的菊花与枫叶",
    ],
}


# --------------------------------------------------------------------------------------------------------
# Small measuring tools
# --------------------------------------------------------------------------------------------------------


def rss_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in KiB, from /proc/self/status (0, 0 where unavailable)."""
    rss = hwm = 0
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        import resource

        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return rss, hwm


def cpu_snapshot() -> tuple[float, float, float]:
    """(machine busy jiffies, machine total jiffies, this process's CPU seconds)."""
    busy = total = 0.0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
        busy = total - idle
    except (OSError, ValueError, IndexError):
        pass
    times = os.times()
    return busy, total, times.user + times.system


def mib(kib: float | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def rss_now() -> int:
    """VmRSS now, in KiB. No forced gc first: on this heap a full collection holds the GIL for
    seconds, which would stall the bot's loop more than the garbage would blur the figure."""
    return rss_kib()[0]


def gc_experiment() -> dict[str, float | int]:
    """How long a full collection of this heap takes (the loop stalls that long), then the same
    after gc.freeze() (start-up objects moved out of the collector's sight), unfrozen again."""
    tracked = len(gc.get_objects())
    started = time.perf_counter()
    gc.collect()
    full_s = time.perf_counter() - started
    gc.freeze()
    try:
        started = time.perf_counter()
        gc.collect()
        frozen_s = time.perf_counter() - started
    finally:
        gc.unfreeze()
    return {"tracked_objects": tracked, "full_s": full_s, "after_freeze_s": frozen_s}


class RssSampler:
    """A daemon thread sampling VmRSS every `interval` seconds (the peak between two marks)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_kib()[0]))
            self._stop.wait(self.interval)

    def peak(self, start: float, end: float) -> int | None:
        values = [v for t, v in self.samples if start <= t <= end]
        return max(values) if values else None


class LoopLag:
    """How late a 20 ms ticker wakes up: the time the event loop could not run callbacks."""

    def __init__(self, tick: float = LAG_TICK_S) -> None:
        self.tick = tick
        self.samples: list[tuple[float, float]] = []  # (when, lag seconds)
        self.queued: list[tuple[float, int]] = []  # (when, calls waiting for a worker thread in any pool)
        # The pools to watch: asyncio's default one (the SDXL call, PNG saving) until the bot's own
        # worker pool (retrieval, planning) is known.
        self.pools: Callable[[], list[Any]] = lambda: [getattr(asyncio.get_running_loop(), "_default_executor", None)]
        self.last_tick = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            self.last_tick = now
            self.samples.append((now, max(0.0, now - before - self.tick)))
            # ThreadPoolExecutor's queue is a private attribute, read only if present.
            queues = [getattr(pool, "_work_queue", None) for pool in self.pools()]
            sizes = [queue.qsize() for queue in queues if queue is not None]
            if sizes:
                self.queued.append((now, sum(sizes)))

    def executor_queue(self, start: float, end: float) -> tuple[int, float]:
        """(most calls waiting for a to_thread worker, seconds with any waiting) in a window."""
        inside = [(t, q) for t, q in self.queued if start <= t <= end]
        busy = sum(b[0] - a[0] for a, b in zip(inside, inside[1:]) if a[1] > 0)
        return max((q for _, q in inside), default=0), busy

    def window(self, start: float, end: float) -> list[float]:
        return [lag for t, lag in self.samples if start <= t <= end]


class StallWatch:
    """Says where the event loop was when it stalled: a thread that, while the loop's ticker is
    more than `threshold` s overdue, samples the loop thread's stack every `interval` s.

    If this thread itself wakes up late, the whole interpreter (GIL) or the process (CPU)
    was held up, not only the loop; that lateness is recorded too.
    """

    def __init__(self, lag: LoopLag, threshold: float = 0.2, interval: float = 0.05) -> None:
        self.lag = lag
        self.threshold = threshold
        self.interval = interval
        self.loop_thread = threading.get_ident()
        self.samples: list[tuple[float, str]] = []  # (when, "file:line function" of the loop thread)
        self.self_late: list[tuple[float, float]] = []  # (when, how late this watcher woke up) over `threshold`
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        expected = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, expected - time.monotonic())):
            now = time.monotonic()
            if now - expected > self.threshold:
                self.self_late.append((now, now - expected))
            expected = now + self.interval
            if now - self.lag.last_tick > self.threshold + self.lag.tick:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    self.samples.append((now, _where(frame)))

    def top(self, start: float, end: float, n: int = 4) -> list[tuple[str, float]]:
        """The loop-thread locations seen most during stalls, with the seconds attributed to each."""
        counts: dict[str, int] = defaultdict(int)
        for t, where in self.samples:
            if start <= t <= end:
                counts[where] += 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return [(where, round(count * self.interval, 2)) for where, count in ranked]


def _short(filename: str) -> str:
    """site-packages/x/y.py -> x/y.py; <repo>/bot/x.py -> bot/x.py; .../lib/python3.11/asyncio/x.py -> asyncio/x.py."""
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if "/lib/python3" in filename:
        return filename.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return filename


def _where(frame: Any) -> str:
    """The innermost frame, then up to two outer frames outside asyncio/selectors/threading.

    An innermost frame in selectors.py means the loop thread was in (or just back from) its
    select(): it had nothing to run, or could not get the GIL or a CPU back.
    """
    if frame is None:
        return "?"
    skip = ("/asyncio/", "/selectors.py", "/threading.py", "/contextlib.py", "/bot_load.py")
    innermost = frame
    if "/selectors.py" in innermost.f_code.co_filename:
        return "selectors.py select() — loop idle or waiting for the GIL/CPU"
    parts = [f"{_short(innermost.f_code.co_filename)}:{innermost.f_lineno} {innermost.f_code.co_name}"]
    frame = frame.f_back
    while frame is not None and len(parts) < 3:
        code = frame.f_code
        if not any(s in code.co_filename for s in skip):
            parts.append(f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


class GcWatch:
    """Every garbage collection (via gc.callbacks): (start, seconds, generation). A full
    (generation 2) collection stops every thread that wants the GIL, the loop included."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, float, int]] = []
        self._started: float | None = None

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._started = now
        elif self._started is not None:
            self.collections.append((self._started, now - self._started, info.get("generation", -1)))
            self._started = None

    def window(self, start: float, end: float, generation: int = 2) -> list[float]:
        return [d for t, d, g in self.collections if start <= t <= end and g == generation]


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def jain(values: list[float]) -> float | None:
    """Jain's fairness index (Σx)² / (n·Σx²): 1.0 when all equal, 1/n when one takes everything."""
    values = [v for v in values if v is not None]
    if not values or not any(values):
        return None
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def rnd(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------------------------------------
# Reference schedules for the fairness figures
# --------------------------------------------------------------------------------------------------------


def simulate_slots(submissions: list[str], batch: int, *, fair: bool) -> list[tuple[str, int]]:
    """Each job's (user, batch number) when every batch takes one time unit and all jobs are queued.

    fair=True follows imaging.scheduler's rule (a ring of members, round-robin, a batch takes
    the next member's oldest job plus the heads of the following members); fair=False is
    plain FIFO in submission order, in batches of `batch`.
    """
    if not fair:
        return [(user, n // batch + 1) for n, user in enumerate(submissions)]
    queues: dict[str, int] = defaultdict(int)
    ring: list[str] = []
    for user in submissions:
        if queues[user] == 0:
            ring.append(user)
        queues[user] += 1
    slots: list[tuple[str, int]] = []
    slot = 0
    while ring:
        slot += 1
        served = ring[:batch]
        ring = ring[batch:]
        for user in served:
            slots.append((user, slot))
            queues[user] -= 1
            if queues[user]:
                ring.append(user)
    return slots


def per_user_mean(slots: list[tuple[str, int]]) -> dict[str, float]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for user, slot in slots:
        grouped[user].append(slot)
    return {user: statistics.fmean(values) for user, values in grouped.items()}


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


@dataclass
class Member:
    id: str
    name: str
    locale: str

    @property
    def lang(self) -> str:
        return "zh" if self.locale.startswith("zh") else "en"


@dataclass
class Sent:
    """One interaction of the burst and what the emulator saw of it."""

    kind: str  # "ask" | "draw"
    member: Member
    text: str
    record: Any = None  # InteractionRecord
    completed_at: float | None = None
    failed: str | None = None

    @property
    def ack_s(self) -> float | None:
        r = self.record
        return None if r is None or r.acknowledged_at is None else r.acknowledged_at - r.dispatched_at

    @property
    def done_s(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.record.dispatched_at


@dataclass
class Results:
    args: argparse.Namespace
    phase: str = "setup"
    interrupted: bool = False
    error: str | None = None
    setup_s: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int | None] = field(default_factory=dict)  # KiB
    tiny_model_param_bytes: int | None = None
    tiny_model_load_s: float | None = None
    preload: bool | None = None  # the bot's IMAGE_PRELOAD, where it has the setting
    loaded_at_online: bool | None = None  # the tiny pipeline was loaded when the bot came online
    warmup: dict[str, float | None] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    burst_start: float | None = None
    burst_end: float | None = None
    lag: list[float] = field(default_factory=list)
    lag_warmup_draw: list[float] = field(default_factory=list)
    lag_idle: list[float] = field(default_factory=list)
    load_avg: tuple[float, float, float] | None = None
    gc_full: list[float] = field(default_factory=list)
    executor_queue: tuple[int, float] | None = None
    executor_workers: str | None = None
    dispatch_s: float | None = None  # the emulator building and sending the burst's INTERACTION_CREATEs
    started_at: float = field(default_factory=time.monotonic)
    gc_young_s: float | None = None
    gc_experiment: dict[str, float | int] = field(default_factory=dict)
    gateway: dict[str, int] = field(default_factory=dict)
    machine_busy_pct: float | None = None
    process_cpu_s: float | None = None
    stall_sites: list[tuple[str, float]] = field(default_factory=list)
    stall_sites_warmup: list[tuple[str, float]] = field(default_factory=list)
    watcher_late: list[float] = field(default_factory=list)
    job_events: list[tuple[float, str, Any]] = field(default_factory=list)  # (when, kind, Job snapshot)
    batch_images: int = 4
    emulator_errors: list[str] = field(default_factory=list)
    emulator_internal_errors: int = 0
    unhandled_routes: list[str] = field(default_factory=list)


def _members(count: int) -> list[Member]:
    locales = ["en-US", "zh-CN"]
    return [Member(f"4100000000000000{n:02d}", f"user{n:02d}", locales[(n - 1) % 2]) for n in range(1, count + 1)]


def _plan_burst(args: argparse.Namespace, members: list[Member]) -> list[Sent]:
    """Asks round-robin over members; each member's draws consecutive; asks interleaved evenly."""
    asks = []
    for n in range(args.asks):
        member = members[n % len(members)]
        questions = ASK_QUESTIONS[member.lang]
        asks.append(Sent("ask", member, questions[(n // len(members)) % len(questions)]))
    per_member: dict[str, int] = defaultdict(int)
    draws = []
    for n in range(args.draws):
        member = members[n * len(members) // max(1, args.draws)] if args.draws >= len(members) else members[n]
        prompts = DRAW_PROMPTS[member.lang]
        draws.append(Sent("draw", member, prompts[(per_member[member.id] + n) % len(prompts)]))
        per_member[member.id] += 1
    total = len(asks) + len(draws)
    merged: list[tuple[float, int, Sent]] = []
    merged += [((i + 0.5) / max(1, len(asks)), 1, s) for i, s in enumerate(asks)]
    merged += [((i + 0.5) / max(1, len(draws)), 0, s) for i, s in enumerate(draws)]
    merged.sort(key=lambda item: (item[0], item[1]))
    assert len(merged) == total
    return [s for _, _, s in merged]


def _ensure_tiny_model(cache: Path, results: Results) -> Path:
    """The tiny pipeline, built once per cache directory in a child process, so that this
    process's RSS does not already hold torch/diffusers when the bot starts."""
    import subprocess

    model = cache / "tiny-sdxl" / "model"
    if (model / "model_index.json").is_file():
        results.setup_s["tiny_model_build"] = 0.0
        return model
    started = time.perf_counter()
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from tests.tiny_sdxl import build_tiny_sdxl; build_tiny_sdxl(Path(sys.argv[2]), Path(sys.argv[3]))"
    )
    building = model.with_name(f"model.building-{os.getpid()}")
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(building), str(cache / "clip-cache")],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the tiny SDXL pipeline failed:\n{done.stderr[-2000:]}")
    building.replace(model)
    results.setup_s["tiny_model_build"] = time.perf_counter() - started
    return model


def _write_small_kb(directory: Path) -> Path:
    from tests.conftest import SMALL_DOCS

    for rel, body in SMALL_DOCS.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def _local_backend(services: Any) -> Any:
    chain = services.imaging.backend
    return next((b for b in getattr(chain, "backends", []) if getattr(b, "name", "") == "local"), None)


def _param_bytes(pipe: Any) -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    total = 0
    for component in getattr(pipe, "components", {}).values():
        if isinstance(component, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in component.parameters())
            total += sum(t.numel() * t.element_size() for t in component.buffers())
    return total


def _check(sent: Sent, now: float) -> None:
    """Mark a sent interaction complete (or failed) from the emulator's view of its original response."""
    if sent.completed_at is not None or sent.failed is not None or sent.record is None:
        return
    record = sent.record
    if record.errors and record.acknowledged_at is None:
        sent.failed = f"emulator refused: {record.errors[-1]}"
        return
    message = record.original
    if not message:
        return
    if sent.kind == "ask":
        if message.get("embeds"):
            sent.completed_at = now
        elif message.get("content") and not int(message.get("flags") or 0) & LOADING_FLAG:
            sent.failed = str(message["content"])[:120]
    elif message.get("attachments"):
        sent.completed_at = now
    elif str(message.get("content") or "").startswith(("❌", "🚫")):  # the draw's "failed" / "cancelled" lines
        sent.failed = str(message["content"])[:120]


async def _wait_all(emu: Any, bot: Any, sent: list[Sent], timeout: float, label: str) -> None:
    """Poll every 50 ms until every interaction completed or failed (or the bot stopped, or time ran out)."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 30
    while True:
        now = time.monotonic()
        for item in sent:
            _check(item, now)
        if now >= next_note and len(sent) > 1:
            next_note = now + 30
            counts = {kind: (sum(1 for s in sent if s.kind == kind and s.completed_at is not None),
                             sum(1 for s in sent if s.kind == kind)) for kind in ("ask", "draw")}
            print(f"[bot_load] {label}: " + ", ".join(f"/{k} {d}/{n} done" for k, (d, n) in counts.items()),
                  file=sys.stderr, flush=True)
        if all(s.completed_at is not None or s.failed is not None for s in sent):
            return
        if bot.is_closed():
            raise RuntimeError(f"the bot stopped during the {label}")
        if now >= deadline:
            return
        await asyncio.sleep(POLL_S)


async def _run(args: argparse.Namespace, results: Results, root: Path) -> None:
    from rag.embeddings import SentenceEmbeddings
    from tests.bot_harness import ALICE, bot_running, new_emulator

    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        results.interrupted = True
        if presses > 1:
            os._exit(130)
        print("\ninterrupted: closing the bot and the emulator (Ctrl-C again to quit at once)…", file=sys.stderr)
        if main_task is not None:
            main_task.cancel()

    def take_sigint() -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, on_sigint)

    def phase(name: str) -> None:
        results.phase = name
        print(f"[bot_load {time.monotonic() - results.started_at:5.0f} s] {name}…", file=sys.stderr, flush=True)

    take_sigint()

    phase("building the tiny SDXL pipeline")
    model_dir = await asyncio.to_thread(_ensure_tiny_model, args.model_cache, results)
    kb_dir = _write_small_kb(root / "kb")
    data_dir = root / f"bot-data-{os.getpid()}-{int(time.time())}"

    phase("loading the embeddings")
    started = time.perf_counter()

    def load_embeddings() -> Any:
        embeddings = SentenceEmbeddings()
        embeddings.encode(["warm up"])
        return embeddings

    embeddings = await asyncio.to_thread(load_embeddings)
    results.setup_s["embeddings_load"] = time.perf_counter() - started

    results.rss["start"] = rss_now()
    phase("importing torch and diffusers")

    def import_pipeline_code() -> None:
        import diffusers  # noqa: F401
        from diffusers import StableDiffusionXLPipeline  # noqa: F401

    started = time.perf_counter()
    await asyncio.to_thread(import_pipeline_code)
    results.setup_s["torch_diffusers_import"] = time.perf_counter() - started
    results.rss["after_torch_import"] = rss_now()

    members = _members(args.users)
    emu = new_emulator()
    for member in members:
        emu.add_user(member.id, member.name, locale=member.locale)
    await emu.start()
    lag = LoopLag()
    lag.start()
    watch = StallWatch(lag)
    watch.start()
    try:
        with RssSampler() as sampler, GcWatch() as gcw:
            phase("starting the bot")
            started = time.perf_counter()
            overrides = dict(
                kb_dir=kb_dir,
                image_model=str(model_dir),
                rate_user_per_minute=1000,
                rate_user_draw_per_hour=10000,
                rate_guild_per_minute=100000,
                queue_max_per_user=100,
                queue_max_total=max(100, args.draws + 10),
            )
            if args.no_preload:
                overrides["image_preload"] = False
            async with bot_running(data_dir, embeddings, emulator=emu, **overrides) as h:
                take_sigint()  # serve() installed its own SIGINT handler; ours cancels the run, which closes the bot
                results.setup_s["bot_online"] = time.perf_counter() - started
                settings = h.services.settings
                results.preload = getattr(settings, "image_preload", None)
                backend = _local_backend(h.services)
                results.loaded_at_online = bool(backend is not None and backend.loaded)
                results.rss["online"] = rss_now()
                results.batch_images = min(settings.queue_max_batch_images, settings.image_max_batch)
                phase("building the index")
                started = time.perf_counter()
                await asyncio.to_thread(h.services.build_index)
                results.setup_s["index_build"] = time.perf_counter() - started

                scheduler = await h.bot.runtime.scheduler()
                runtime = h.bot.runtime
                lag.pools = lambda: [*runtime.pools().values(), getattr(loop, "_default_executor", None)]

                def on_job(event: Any) -> None:
                    if event.kind in ("started", "done", "failed", "cancelled") and event.job is not None:
                        results.job_events.append((time.monotonic(), event.kind, event.job))

                scheduler.subscribe(None, on_job)
                results.rss["indexed"] = rss_now()

                if not args.cold:
                    phase("warm-up")
                    warm_ask = Sent("ask", Member(ALICE, "alice", "en-US"), ASK_QUESTIONS["en"][0])
                    warm_ask.record = await emu.slash("ask", {"question": warm_ask.text}, user=ALICE)
                    await _wait_all(emu, h.bot, [warm_ask], 120, "warm-up /ask")
                    results.warmup["ask_ack_ms"] = ms(warm_ask.ack_s)
                    results.warmup["ask_done_ms"] = ms(warm_ask.done_s)
                    results.rss["before_first_draw"] = rss_now()
                    warm_draw = Sent("draw", Member(ALICE, "alice", "en-US"), DRAW_PROMPTS["en"][0])
                    warm_draw.record = await emu.slash("draw", {"prompt": warm_draw.text}, user=ALICE)
                    t0 = time.monotonic()
                    await _wait_all(emu, h.bot, [warm_draw], 300, "warm-up /draw")
                    results.lag_warmup_draw = lag.window(t0, time.monotonic())
                    results.stall_sites_warmup = watch.top(t0, time.monotonic(), 3)
                    results.warmup["draw_ack_ms"] = ms(warm_draw.ack_s)
                    results.warmup["draw_done_s"] = rnd(warm_draw.done_s)
                    results.rss["after_first_draw"] = rss_now()
                    if warm_draw.failed or warm_draw.completed_at is None:
                        raise RuntimeError(f"the warm-up /draw did not finish: {warm_draw.failed or 'timed out'}")

                phase("idle baseline")
                results.rss["before_burst"] = rss_now()
                idle_start = time.monotonic()
                await asyncio.sleep(args.idle_baseline)
                results.lag_idle = lag.window(idle_start, time.monotonic())

                phase("burst")
                plan = _plan_burst(args, members)
                results.sent = plan
                results.load_avg = os.getloadavg()
                cpu_before = cpu_snapshot()
                burst_start = time.monotonic()
                results.burst_start = burst_start

                async def send(item: Sent) -> None:
                    if item.kind == "ask":
                        item.record = await emu.slash("ask", {"question": item.text}, user=item.member.id)
                    else:
                        item.record = await emu.slash("draw", {"prompt": item.text}, user=item.member.id)

                def collect_burst() -> None:
                    """The burst's figures, also when it was interrupted or timed out."""
                    end = results.burst_end = time.monotonic()
                    cpu_after = cpu_snapshot()
                    if cpu_after[1] > cpu_before[1]:
                        results.machine_busy_pct = 100 * (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1])
                    results.process_cpu_s = cpu_after[2] - cpu_before[2]
                    results.lag = lag.window(burst_start, end)
                    results.stall_sites = watch.top(burst_start, end)
                    results.executor_queue = lag.executor_queue(burst_start, end)
                    results.executor_workers = ", ".join(
                        [f"{lane} {getattr(pool, '_max_workers', '?')}" for lane, pool in runtime.pools().items()]
                        + [f"default {getattr(getattr(loop, '_default_executor', None), '_max_workers', '?')}"]
                    )
                    results.gc_full = gcw.window(burst_start, end)
                    results.gc_young_s = sum(gcw.window(burst_start, end, 0) + gcw.window(burst_start, end, 1))
                    results.watcher_late = [late for t, late in watch.self_late if burst_start <= t <= end]
                    results.rss["burst_peak"] = sampler.peak(burst_start, end)
                    results.emulator_errors = [
                        f"{r.id} ({(r.payload.get('data') or {}).get('name')}): {e}"
                        for r in emu.interactions.values()
                        for e in r.errors
                    ]
                    results.emulator_internal_errors = len(emu.internal_errors)
                    results.unhandled_routes = list(emu.unhandled)
                    backend = _local_backend(h.services)
                    if backend is not None and backend.loaded:
                        results.tiny_model_param_bytes = _param_bytes(backend._pipe)
                        results.tiny_model_load_s = backend.load_seconds

                try:
                    await asyncio.gather(*(send(item) for item in plan))
                    results.dispatch_s = time.monotonic() - burst_start
                    await _wait_all(emu, h.bot, plan, args.timeout, "burst")
                finally:
                    collect_burst()
                    scheduler.unsubscribe(None, on_job)
                results.rss["after_burst"] = rss_now()
                results.gateway = {"identifies": emu.identifies, "resumes": emu.resumes}
                results.gc_experiment = gc_experiment()  # after every measurement: it stalls the loop
                phase("closing")
    finally:
        watch.stop()
        await lag.stop()
        await emu.stop()
        results.rss["hwm"] = rss_kib()[1]
    results.phase = "done"


# --------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float | None]:
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values) if values else None}


def _fairness(results: Results) -> dict[str, Any]:
    draws = [s for s in results.sent if s.kind == "draw"]
    if not draws or results.burst_start is None:
        return {}
    members = {s.member.id: s.member for s in draws}
    done = sorted((s for s in draws if s.completed_at is not None), key=lambda s: s.completed_at)
    rank = {id(s): n for n, s in enumerate(done, 1)}
    first: dict[str, float] = {}
    order: list[str] = []
    for s in done:
        if s.member.id not in first:
            first[s.member.id] = s.completed_at - results.burst_start
            order.append(s.member.name)
    second_at = [s.completed_at for s in done if sum(1 for d in done if d.member.id == s.member.id and d.completed_at <= s.completed_at) == 2]
    before_any_second = sum(1 for t in first.values() if not second_at or t + results.burst_start < min(second_at))

    rows = []
    waits: dict[str, float] = {}
    for mid, member in members.items():
        mine = [s for s in draws if s.member.id == mid]
        finished = [s for s in mine if s.done_s is not None]
        mean_wait = statistics.fmean(s.done_s for s in finished) if finished else None
        if mean_wait is not None:
            waits[mid] = mean_wait
        rows.append(
            {
                "member": member.name,
                "jobs": len(mine),
                "done": len(finished),
                "first_image_s": rnd(first.get(mid)),
                "mean_rank": rnd(statistics.fmean(rank[id(s)] for s in finished), 1) if finished else None,
                "mean_wait_s": rnd(mean_wait),
            }
        )

    # Queue waits from the scheduler's own job timestamps (wall clock; submit → start), benchmark members only.
    ids = set(members)
    job_done = {job.id: job for _, kind, job in results.job_events if kind == "done" and job.user_id in ids}
    queue_wait: dict[str, list[float]] = defaultdict(list)
    for job in job_done.values():
        if job.started_at is not None:
            queue_wait[job.user_id].append(job.started_at - job.created_at)
    submit_order = [job.user_id for job in sorted(job_done.values(), key=lambda j: j.created_at)]
    batches: dict[float, int] = defaultdict(int)
    batch_members: dict[float, list[str]] = defaultdict(list)
    for job in sorted(job_done.values(), key=lambda j: j.created_at):
        if job.started_at is not None:
            batches[round(job.started_at, 3)] += job.request.count
            batch_members[round(job.started_at, 3)].append(members[job.user_id].name)
    batch = max(1, results.batch_images)
    fair_ref = jain(list(per_user_mean(simulate_slots(submit_order, batch, fair=True)).values())) if submit_order else None
    fifo_ref = jain(list(per_user_mean(simulate_slots(submit_order, batch, fair=False)).values())) if submit_order else None
    return {
        "rows": rows,
        "first_image_order": order,
        "first_images_before_any_second": before_any_second,
        "members": len(members),
        "jain_mean_wait": jain(list(waits.values())),
        "jain_queue_wait": jain([statistics.fmean(v) for v in queue_wait.values()]) if queue_wait else None,
        "jain_ref_round_robin": fair_ref,
        "jain_ref_fifo": fifo_ref,
        "batches": len(batches),
        "mean_batch_images": rnd(statistics.fmean(batches.values())) if batches else None,
        "submit_order": [members[u].name for u in submit_order],
        "batch_members": [batch_members[k] for k in sorted(batch_members)],
    }


def report(results: Results) -> dict[str, Any]:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    args = results.args
    status = "interrupted" if results.interrupted else ("error" if results.error else "complete")
    console.rule(f"[bold]Huayi bot load[/] · {args.asks} /ask + {args.draws} /draw over {args.users} members · {status}")
    if results.error:
        console.print(f"[red]stopped during {results.phase}: {results.error}[/]")
    elif results.interrupted:
        console.print(f"[yellow]interrupted during {results.phase}; figures below are partial[/]")
    console.print(
        f"Python {sys.version.split()[0]}, GIL switch interval {sys.getswitchinterval() * 1000:g} ms, {os.cpu_count()} CPUs. "
        "Bot in-process with the loopback Discord emulator; image backend: the tiny random-weight SDXL on CPU "
        "(2 steps, 1024x1024) — no real SDXL weights loaded. Rate limits and queue caps raised out of the way."
    )
    if results.setup_s:
        console.print("Setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in results.setup_s.items()))
    if results.warmup:
        w = results.warmup
        console.print(
            f"Warm-up (not counted): /ask ack {w.get('ask_ack_ms')} ms, answer {w.get('ask_done_ms')} ms; "
            f"/draw ack {w.get('draw_ack_ms')} ms, image {w.get('draw_done_s')} s"
            + ("" if results.loaded_at_online else " (includes loading the tiny pipeline)")
            + (f"; pipeline load took {results.tiny_model_load_s:.1f} s"
               + (" during start-up" if results.loaded_at_online else "") if results.tiny_model_load_s else "")
        )

    sent = results.sent
    asks = [s for s in sent if s.kind == "ask" and s.record is not None]
    draws = [s for s in sent if s.kind == "draw" and s.record is not None]
    ack = {
        "ask": _stats([s.ack_s for s in asks if s.ack_s is not None]),
        "draw": _stats([s.ack_s for s in draws if s.ack_s is not None]),
        "all": _stats([s.ack_s for s in asks + draws if s.ack_s is not None]),
    }
    done = {
        "ask": _stats([s.done_s for s in asks if s.done_s is not None]),
        "draw": _stats([s.done_s for s in draws if s.done_s is not None]),
    }
    late = sum(1 for s in asks + draws if s.ack_s is not None and s.ack_s * 1000 >= ACK_TARGET_MS)
    over_3s = sum(1 for s in asks + draws if s.ack_s is not None and s.ack_s >= 3.0)
    unacked = sum(1 for s in asks + draws if s.ack_s is None)

    table = Table(title="Latency (from INTERACTION_CREATE dispatch)", box=box.SIMPLE_HEAVY)
    for column in ("measure", "n", "p50", "p99", "max", "target"):
        table.add_column(column, justify="right" if column not in ("measure", "target") else "left")
    def cell(value: float | None, unit: str) -> str:
        return "—" if value is None else f"{value} {unit}"

    for key, label in (("ask", "ack /ask"), ("draw", "ack /draw"), ("all", "ack overall")):
        st = ack[key]
        verdict = "—" if st["p99"] is None else ("met" if st["p99"] * 1000 < ACK_TARGET_MS else "MISSED")
        table.add_row(label, str(st["n"]), cell(ms(st["p50"]), "ms"), cell(ms(st["p99"]), "ms"), cell(ms(st["max"]), "ms"),
                      f"p99 < {ACK_TARGET_MS:.0f} ms on this machine: {verdict}")
    for key, label in (("ask", "/ask answer posted"), ("draw", "/draw image posted")):
        st = done[key]
        expected = len(asks) if key == "ask" else len(draws)
        table.add_row(label, f"{st['n']}/{expected}", cell(rnd(st["p50"]), "s"), cell(rnd(st["p99"]), "s"),
                      cell(rnd(st["max"]), "s"), "")
    console.print(table)
    console.print(
        "[dim]The emulator shares the bot's event loop, so it timestamps a callback only when the loop gets to its "
        "HTTP handler: in a burst, acks cluster at about the time the bot needs to start every command"
        + (f"; the emulator's own building and sending of the {len(asks) + len(draws)} INTERACTION_CREATEs took "
           f"{ms(results.dispatch_s)} ms of it" if results.dispatch_s is not None else "")
        + ".[/]"
    )
    failed = [s for s in sent if s.failed]
    missing = [s for s in sent if s.record is not None and s.completed_at is None and s.failed is None]
    console.print(
        f"Acks ≥ {ACK_TARGET_MS:.0f} ms: {late}; ≥ 3 s (Discord would drop them): {over_3s}; never acknowledged: {unacked}. "
        f"Failed: {len(failed)}; unfinished at the end: {len(missing)}. "
        f"Burst wall time: {rnd((results.burst_end or time.monotonic()) - results.burst_start) if results.burst_start else None} s."
    )
    for s in failed[:5]:
        console.print(f"  [red]{s.kind} {s.member.name}: {s.failed}[/]")
    if results.emulator_errors:
        console.print(f"[red]Emulator refused {len(results.emulator_errors)} request(s):[/] " + "; ".join(results.emulator_errors[:5]))
    if results.emulator_internal_errors or results.unhandled_routes:
        console.print(f"[red]Emulator internal errors: {results.emulator_internal_errors}; unhandled routes: {results.unhandled_routes}[/]")

    lag_all = results.lag
    lag_stats = {"p50": percentile(lag_all, 50), "p99": percentile(lag_all, 99), "max": max(lag_all) if lag_all else None,
                 "stalls_over_100ms": sum(1 for x in lag_all if x > 0.1), "ticks": len(lag_all)}
    if lag_all:
        console.print(
            f"Event-loop lag during the burst ({LAG_TICK_S * 1000:.0f} ms ticker overshoot, {len(lag_all)} ticks): p50 {ms(lag_stats['p50'])} ms, "
            f"p99 {ms(lag_stats['p99'])} ms, max {ms(lag_stats['max'])} ms; stalls > 100 ms: {lag_stats['stalls_over_100ms']}"
            + (f". During the warm-up draw (model load): max {ms(max(results.lag_warmup_draw))} ms"
               if results.lag_warmup_draw else "")
        )
        if results.lag_idle:
            idle = results.lag_idle
            console.print(
                f"  Baseline, bot online and idle for {args.idle_baseline:g} s just before: p99 {ms(percentile(idle, 99))} ms, "
                f"max {ms(max(idle))} ms (what this shared VM does to a sleeping loop)."
            )
        if results.machine_busy_pct is not None:
            cores = os.cpu_count() or 1
            burst_s = (results.burst_end or 0) - (results.burst_start or 0)
            others = results.machine_busy_pct / 100 * cores * burst_s - (results.process_cpu_s or 0)
            console.print(
                f"  CPU during the burst: machine {results.machine_busy_pct:.0f}% busy over {cores} cores; this process used "
                f"{results.process_cpu_s:.0f} CPU-s of {cores * burst_s:.0f}, other processes ≈ {max(0.0, others):.0f} CPU-s; "
                f"load average at the start {results.load_avg[0]:.2f}."
                if results.load_avg else ""
            )
        if results.executor_queue is not None:
            depth, busy = results.executor_queue
            console.print(
                f"  Thread pools ({results.executor_workers} threads; the bot's answers lane runs /ask retrieval, its "
                f"drawing lane /draw planning, the default pool the SDXL call, PNG saving and re-encoding): up to "
                f"{depth} calls waiting, "
                f"some waiting for {busy:.1f} s of the burst."
            )
        if results.gc_young_s is not None:
            console.print(
                f"  Garbage collection during the burst: {len(results.gc_full)} full (gen-2) collections, "
                f"{sum(results.gc_full):.2f} s in all, longest {ms(max(results.gc_full, default=0))} ms; "
                f"young generations {results.gc_young_s:.2f} s in all."
            )
        if results.stall_sites:
            console.print(
                "Where the loop thread was during stalls (> 200 ms overdue, sampled every 50 ms; seconds attributed):"
            )
            for where, seconds in results.stall_sites:
                console.print(f"  {seconds:6.2f} s  {where}")
        if results.stall_sites_warmup:
            console.print("  during the warm-up draw: " + "; ".join(f"{s:.2f} s {w}" for w, s in results.stall_sites_warmup))
        if results.watcher_late:
            console.print(
                f"The watcher thread itself woke > 200 ms late {len(results.watcher_late)} times (max "
                f"{ms(max(results.watcher_late))} ms): the whole interpreter (GIL) or process (CPU) was held up then, "
                "not only the loop."
            )

    fairness = _fairness(results)
    if fairness.get("rows"):
        ft = Table(title="/draw service per member (burst start → image posted)", box=box.SIMPLE_HEAVY)
        for column in ("member", "jobs", "done", "first image", "mean rank", "mean wait"):
            ft.add_column(column, justify="left" if column == "member" else "right")
        for row in sorted(fairness["rows"], key=lambda r: (r["first_image_s"] is None, r["first_image_s"] or 0)):
            ft.add_row(row["member"], str(row["jobs"]), str(row["done"]), cell(row["first_image_s"], "s"),
                       "—" if row["mean_rank"] is None else str(row["mean_rank"]), cell(row["mean_wait_s"], "s"))
        console.print(ft)
        console.print("First images arrived in this order: " + " → ".join(fairness["first_image_order"]))
        console.print("Jobs reached the queue in this order: " + " ".join(fairness["submit_order"]))
        console.print(
            "Pipeline calls (batches), in order: "
            + " ".join("[" + " ".join(m.removeprefix("user") for m in batch) + "]" for batch in fairness["batch_members"])
        )
        console.print(
            f"{fairness['first_images_before_any_second']}/{fairness['members']} members had their first image before any "
            f"member got a second. Jain's index over per-member mean wait: {rnd(fairness['jain_mean_wait'], 3)} "
            f"(queue wait submit→start: {rnd(fairness['jain_queue_wait'], 3)}); for this submission order with "
            f"unit-time batches of {results.batch_images}, the scheduler's round-robin rule gives "
            f"{rnd(fairness['jain_ref_round_robin'], 3)} and FIFO {rnd(fairness['jain_ref_fifo'], 3)}. "
            f"{fairness['batches']} pipeline calls, {fairness['mean_batch_images']} images each on average."
        )

    r = results.rss

    def delta(after: str, before: str) -> float | None:
        return mib(r[after] - r[before]) if r.get(after) and r.get(before) else None

    model_mib = mib(results.tiny_model_param_bytes / 1024) if results.tiny_model_param_bytes else None
    tiny = {
        "torch_diffusers_import": delta("after_torch_import", "start"),
        "bot_start": delta("online", "after_torch_import"),
        "first_draw": delta("after_first_draw", "before_first_draw"),
    }
    console.print(
        "RSS of this process, MiB (VmRSS; bot + emulator + harness + MiniLM embeddings share it): "
        + ", ".join(
            f"{label} {mib(r.get(key))}"
            for key, label in (
                ("start", "start"), ("after_torch_import", "torch+diffusers imported"), ("online", "bot online"),
                ("indexed", "index built"), ("before_first_draw", "before the first draw"),
                ("after_first_draw", "after it"), ("before_burst", "before the burst"),
                ("burst_peak", "peak in the burst (50 ms samples)"), ("after_burst", "after it"), ("hwm", "high-water mark"),
            )
            if r.get(key) is not None
        )
    )
    loaded_how = (
        "preloaded at start-up (IMAGE_PRELOAD)" if results.loaded_at_online
        else "loaded by the first draw" if results.preload is not None or results.loaded_at_online is not None else "?"
    )
    console.print(
        f"Tiny SDXL (the only image model; no full-size SDXL is loaded): weights {model_mib} MiB, {loaded_how}. "
        f"Importing torch/diffusers +{tiny['torch_diffusers_import']} MiB; bot start-up "
        f"{'with' if results.loaded_at_online else 'without'} the pipeline +{tiny['bot_start']} MiB; the first 1024² draw "
        f"+{tiny['first_draw']} MiB{' (pipeline load included)' if not results.loaded_at_online else ''} — activations the "
        "allocator keeps, and the PNG/encode buffers."
    )
    if results.gc_experiment:
        g = results.gc_experiment
        console.print(
            f"After the burst, a full gc.collect() of this heap ({g['tracked_objects']:,} tracked objects) took "
            f"{g['full_s']:.2f} s on the loop thread; after gc.freeze() {g['after_freeze_s']:.2f} s. "
            f"(Automatic full collections in the burst: {len(results.gc_full)}.)"
        )
    if results.gateway and (results.gateway.get("identifies", 1) > 1 or results.gateway.get("resumes")):
        console.print(
            f"[red]The gateway reconnected during the run: {results.gateway['identifies']} IDENTIFY, "
            f"{results.gateway['resumes']} RESUME.[/]"
        )
    console.print(f"Total run time {time.monotonic() - results.started_at:.0f} s.")

    summary = {
        "status": status,
        "asks": args.asks,
        "draws": args.draws,
        "users": args.users,
        "switch_interval_ms": sys.getswitchinterval() * 1000,
        "ack_ms": {k: {"p50": ms(v["p50"]), "p99": ms(v["p99"]), "max": ms(v["max"]), "n": v["n"]} for k, v in ack.items()},
        "ack_target_p99_ms": ACK_TARGET_MS,
        "emulator_dispatch_ms": ms(results.dispatch_s),
        "ack_target_met": ack["all"]["p99"] is not None and ack["all"]["p99"] * 1000 < ACK_TARGET_MS,
        "acks_over_target": late,
        "acks_over_3s": over_3s,
        "ask_done_s": {"p50": rnd(done["ask"]["p50"]), "p99": rnd(done["ask"]["p99"]), "n": done["ask"]["n"]},
        "draw_done_s": {"p50": rnd(done["draw"]["p50"]), "p99": rnd(done["draw"]["p99"]), "n": done["draw"]["n"]},
        "failed": len(failed),
        "unfinished": len(missing),
        "burst_s": rnd((results.burst_end or time.monotonic()) - results.burst_start) if results.burst_start else None,
        "idle_loop_lag_ms": {"p99": ms(percentile(results.lag_idle, 99)), "max": ms(max(results.lag_idle, default=None))},
        "executor_queue": {"max_waiting": results.executor_queue[0] if results.executor_queue else None,
                           "busy_s": rnd(results.executor_queue[1], 1) if results.executor_queue else None,
                           "workers": results.executor_workers},
        "draw_batches": [len(b) for b in fairness.get("batch_members", [])],
        "total_runtime_s": rnd(time.monotonic() - results.started_at, 1),
        "gc_full_in_burst": {"n": len(results.gc_full), "total_s": rnd(sum(results.gc_full)),
                             "max_ms": ms(max(results.gc_full, default=None))},
        "machine_busy_pct": rnd(results.machine_busy_pct, 0),
        "process_cpu_s": rnd(results.process_cpu_s, 1),
        "load_avg_1m": results.load_avg[0] if results.load_avg else None,
        "loop_lag_ms": {"p50": ms(lag_stats["p50"]), "p99": ms(lag_stats["p99"]), "max": ms(lag_stats["max"]),
                        "stalls_over_100ms": lag_stats["stalls_over_100ms"],
                        "stall_sites": [[w, sec] for w, sec in results.stall_sites[:3]]},
        "draw_fairness": {
            "jain_mean_wait": rnd(fairness.get("jain_mean_wait"), 3),
            "jain_queue_wait": rnd(fairness.get("jain_queue_wait"), 3),
            "jain_ref_round_robin": rnd(fairness.get("jain_ref_round_robin"), 3),
            "jain_ref_fifo": rnd(fairness.get("jain_ref_fifo"), 3),
            "first_images_before_any_second": fairness.get("first_images_before_any_second"),
            "first_image_order": fairness.get("first_image_order"),
        },
        "rss_mib": {k: mib(v) for k, v in r.items()},
        "tiny_model_weights_mib": model_mib,
        "tiny_model_rss_mib": tiny,
        "tiny_model_preloaded": results.loaded_at_online,
        "gc_experiment": {k: (rnd(v, 3) if isinstance(v, float) else v) for k, v in results.gc_experiment.items()},
        "gateway": results.gateway,
        "warmup": results.warmup,
        "setup_s": {k: rnd(v, 1) for k, v in results.setup_s.items()},
    }
    print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, default=50, help="concurrent /ask in the burst (default 50)")
    parser.add_argument("--draws", type=int, default=20, help="concurrent /draw in the burst (default 20)")
    parser.add_argument("--users", type=int, default=10, help="members the burst is spread over (default 10)")
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="keep files here (the tiny pipeline is built once and reused); default: a temporary directory",
    )
    parser.add_argument(
        "--model-cache", type=Path, default=None,
        help="where the tiny SDXL pipeline is built once and reused (default ~/.cache/huayi/bot_load; "
        "with --data-dir and no --model-cache: DIR)",
    )
    parser.add_argument("--timeout", type=float, default=420, help="seconds to wait for the burst to finish (default 420)")
    parser.add_argument(
        "--idle-baseline", type=float, default=3.0, help="seconds of idle loop-lag baseline before the burst (default 3)"
    )
    parser.add_argument(
        "--no-preload", action="store_true", help="IMAGE_PRELOAD=false: load the pipeline on the first draw, not at start-up"
    )
    parser.add_argument(
        "--switch-interval", type=float, default=None, metavar="MS",
        help="sys.setswitchinterval for the run, in ms (Python's default is 5): how long a thread that wants "
        "the GIL, the event loop included, may wait for CPU-bound Python threads",
    )
    parser.add_argument("--cold", action="store_true", help="no warm-up /ask and /draw: the burst pays for the first load")
    args = parser.parse_args(argv)
    if args.model_cache is None:
        default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huayi" / "bot_load"
        args.model_cache = args.data_dir.resolve() if args.data_dir is not None else default_cache
    if args.asks < 0 or args.draws < 0 or args.users < 1:
        parser.error("--asks and --draws must be ≥ 0 and --users ≥ 1")

    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1000)
    results = Results(args)
    with contextlib.ExitStack() as stack:
        if args.data_dir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="huayi-bot-load-")))
        else:
            root = args.data_dir.resolve()
            root.mkdir(parents=True, exist_ok=True)
        try:
            asyncio.run(_run(args, results, root))
        except (KeyboardInterrupt, asyncio.CancelledError):
            results.interrupted = True
        except Exception as exc:  # noqa: BLE001 - print what was measured, then the reason
            results.error = f"{type(exc).__name__}: {exc}"
        report(results)
    if results.interrupted:
        return 130
    return 1 if results.error else 0


if __name__ == "__main__":
    sys.exit(main())
