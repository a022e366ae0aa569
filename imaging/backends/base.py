"""The interface every image backend implements, and the types they exchange."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import JobCancelledError
from ..request import GenerationRequest

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "ProgressEvent",
    "ProgressCallback",
    "CancelToken",
    "GeneratedImage",
    "GenerationResult",
    "Availability",
    "ImageBackend",
]


@dataclass(frozen=True)
class ProgressEvent:
    """Denoising progress of one backend call (which may serve several batched requests)."""

    step: int
    total: int
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        if self.step <= 0:
            return None
        return self.elapsed_s / self.step * (self.total - self.step)


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Thread-safe cancellation flag: set from the event loop, read inside a GPU step callback."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelledError("cancelled by its owner")


@dataclass(frozen=True)
class GeneratedImage:
    image: Image
    seed: int


@dataclass
class GenerationResult:
    """What one request produced, and which backend produced it (and why, after a fallback)."""

    images: list[GeneratedImage]
    backend: str
    model: str
    sampler: str
    seconds: float
    fallback_reason: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@runtime_checkable
class ImageBackend(Protocol):
    """A way to turn validated requests into images.

    `generate` receives requests that share `batch_key()` and returns one result per
    request, in order. `max_batch` is the most images one call may make.
    """

    name: str

    @property
    def max_batch(self) -> int: ...

    def availability(self) -> Availability: ...

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]: ...

    async def aclose(self) -> None: ...
