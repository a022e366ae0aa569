"""Backends tried in order (`IMAGE_BACKENDS`), falling back on outages, never on refusals."""

from __future__ import annotations

import asyncio

import logging
from collections.abc import Sequence

from ..errors import BackendUnavailableError, GenerationFailedError, ImagingError
from ..request import GenerationRequest
from .base import Availability, CancelToken, GenerationResult, ImageBackend, ProgressCallback

__all__ = ["BackendChain"]

log = logging.getLogger(__name__)


class BackendChain:
    """An `ImageBackend` that serves each call with the first backend able to.

    A backend is skipped when it is unavailable (no GPU, no key) and abandoned when it
    fails with an error that allows fallback (outage, out of memory, rate limit). A
    refusal (moderation, invalid request, cancellation) is final. The result says which
    backend served it and why the ones before it did not.
    """

    name = "chain"

    def __init__(self, backends: Sequence[ImageBackend]) -> None:
        self.backends = list(backends)

    @property
    def max_batch(self) -> int:
        for backend in self.backends:
            if backend.availability().ok:
                return backend.max_batch
        return 1

    def availability(self) -> Availability:
        reasons = []
        for backend in self.backends:
            state = backend.availability()
            if state.ok:
                return state
            reasons.append(f"{backend.name}: {state.reason}")
        return Availability(False, "; ".join(reasons) or "no image backend is configured")

    def health(self) -> dict[str, Availability]:
        return {backend.name: backend.availability() for backend in self.backends}

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        reasons: list[str] = []
        last_error: ImagingError | None = None
        for backend in self.backends:
            state = await asyncio.to_thread(backend.availability)  # may import torch or stat the HF cache
            if not state.ok:
                reasons.append(f"{backend.name} unavailable: {state.reason}")
                continue
            try:
                results = await backend.generate(requests, progress, cancel)
            except ImagingError as exc:
                if not exc.fallback_ok:
                    raise
                log.warning("%s failed (%s); trying the next backend", backend.name, exc.code)
                reasons.append(f"{backend.name} failed: {exc.code}")
                last_error = exc
                continue
            except Exception as exc:
                log.exception("%s failed unexpectedly; trying the next backend", backend.name)
                reasons.append(f"{backend.name} failed: {type(exc).__name__}")
                last_error = GenerationFailedError(f"{backend.name}: {type(exc).__name__}")
                continue
            if reasons:
                for result in results:
                    result.fallback_reason = "; ".join(reasons)
            return results
        if last_error is not None:
            # The member learns what actually went wrong (rate limit, out of memory…), not just "unavailable".
            last_error.params.setdefault("fallback_reasons", "; ".join(reasons))
            raise last_error
        log.warning("no image backend could serve: %s", "; ".join(reasons))
        raise BackendUnavailableError("; ".join(reasons) or "no image backend is configured")

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()
