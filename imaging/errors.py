"""Domain errors of the imaging layer.

Like `rag.errors`, each error has a stable `code` and keyword `params`, so a front end
(CLI or Discord) renders a short message in the member's language with
`imaging.messages.render_error`. `fallback_ok` tells the backend chain whether another
backend may try the same request: an outage may fall back, a refusal of the content
or of the request itself must not.
"""

from __future__ import annotations

__all__ = [
    "ImagingError",
    "InvalidPromptError",
    "BlockedPromptError",
    "UnknownStyleError",
    "InvalidRequestError",
    "BackendUnavailableError",
    "GenerationFailedError",
    "GpuOutOfMemoryError",
    "StabilityError",
    "JobCancelledError",
    "QueueFullError",
    "JobNotFoundError",
    "NotJobOwnerError",
    "MissingExtraError",
    "ClipVocabularyError",
    "OutputWriteError",
]


class ImagingError(Exception):
    """Base class: `code` picks the localised message, `params` fill it."""

    code = "imaging_error"
    fallback_ok = False

    def __init__(self, detail: str = "", **params: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class InvalidPromptError(ImagingError):
    """The idea is empty, too long, or mostly control characters (`reason`)."""

    code = "invalid_prompt"


class BlockedPromptError(ImagingError):
    """The idea matches the configured blocklist."""

    code = "blocked_prompt"


class UnknownStyleError(ImagingError):
    code = "unknown_style"


class InvalidRequestError(ImagingError):
    """A generation parameter is out of range (`reason`: size, steps, cfg, count, seed, prompt)."""

    code = "invalid_request"


class BackendUnavailableError(ImagingError):
    """The backend cannot serve now (no GPU, no key, model missing); another may."""

    code = "backend_unavailable"
    fallback_ok = True


class GenerationFailedError(ImagingError):
    """The backend failed while generating; another backend may succeed."""

    code = "generation_failed"
    fallback_ok = True


class GpuOutOfMemoryError(ImagingError):
    """CUDA ran out of memory even at batch size 1."""

    code = "gpu_out_of_memory"
    fallback_ok = True


class StabilityError(ImagingError):
    """An error answer from the Stability API; `code` is specific to its HTTP status."""

    code = "stability_error"

    def __init__(self, detail: str = "", *, status: int, code: str, fallback_ok: bool, **params: object) -> None:
        super().__init__(detail, status=status, **params)
        self.status = status
        self.code = code
        self.fallback_ok = fallback_ok


class JobCancelledError(ImagingError):
    code = "job_cancelled"


class QueueFullError(ImagingError):
    """Too many queued jobs (`scope`: user or global)."""

    code = "queue_full"


class JobNotFoundError(ImagingError):
    code = "job_not_found"


class NotJobOwnerError(ImagingError):
    code = "not_job_owner"


class MissingExtraError(ImagingError):
    """An optional dependency is not installed; `extra` names what to install."""

    code = "missing_extra"


class ClipVocabularyError(ImagingError):
    """The CLIP BPE vocabulary (shipped in the open_clip_torch wheel) cannot be found."""

    code = "clip_vocabulary_missing"


class OutputWriteError(ImagingError):
    """Images could not be written (`path`, `reason`): a full disk or a read-only directory."""

    code = "output_unwritable"
