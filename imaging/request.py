"""Typed generation requests, validated before any GPU or network work.

Why: a bad size or step count must fail in milliseconds with a clear message, not
after a model load or an API round trip, and every backend can rely on the ranges.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from .errors import InvalidRequestError

__all__ = [
    "SDXL_RESOLUTIONS",
    "MAX_SEED",
    "RequestLimits",
    "GenerationRequest",
    "parse_size",
    "aspect_ratio",
]

# The resolutions SDXL base was trained on (multiples of 64, about one megapixel).
SDXL_RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
)
MAX_SEED = 2**32 - 1
# Stability's v2beta endpoints take an aspect ratio instead of a size.
_ASPECTS = {
    (1024, 1024): "1:1",
    (1152, 896): "5:4",
    (896, 1152): "4:5",
    (1216, 832): "3:2",
    (832, 1216): "2:3",
    (1344, 768): "16:9",
    (768, 1344): "9:16",
    (1536, 640): "21:9",
    (640, 1536): "9:21",
}


def parse_size(text: str) -> tuple[int, int]:
    """'1024x1024' (or '1024×1024', '1024*1024') → (1024, 1024); raises InvalidRequestError."""
    cleaned = text.strip().lower().replace("×", "x").replace("*", "x")
    width, _, height = cleaned.partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if size not in SDXL_RESOLUTIONS:
        raise InvalidRequestError(
            f"unsupported size {text!r}", reason="size", size=text, choices=_size_choices()
        )
    return size


def aspect_ratio(width: int, height: int) -> str:
    return _ASPECTS[(width, height)]


def _size_choices() -> str:
    return ", ".join(f"{w}x{h}" for w, h in SDXL_RESOLUTIONS)


@dataclass(frozen=True)
class RequestLimits:
    """Bounds a request must respect.

    The defaults are what the backends accept at all; the bot and CLI pass the stricter
    `IMAGE_MAX_*` settings, which are validated to lie within these.
    """

    min_steps: int = 1
    max_steps: int = 150
    min_cfg: float = 1.0
    max_cfg: float = 30.0
    max_count: int = 8
    max_prompt_chars: int = 2000


@dataclass(frozen=True)
class GenerationRequest:
    """One member's image request, with per-image seeds resolved up front for reproducibility."""

    prompt: str
    negative_prompt: str = ""
    prompt_2: str | None = None
    negative_prompt_2: str | None = None
    width: int = 1024
    height: int = 1024
    steps: int = 30
    cfg: float = 6.0
    count: int = 1
    seed: int | None = None
    style_id: str | None = None
    style_preset: str | None = None
    seeds: tuple[int, ...] = field(default=())

    def with_seeds(self, rng: random.Random | None = None) -> GenerationRequest:
        """Give every image its own seed: `seed`, `seed+1`, … or random ones."""
        if self.seeds:
            return self
        if self.seed is None:
            rng = rng or random.SystemRandom()
            base = rng.randint(0, MAX_SEED)
        else:
            base = self.seed
        return replace(self, seed=base, seeds=tuple((base + i) % (MAX_SEED + 1) for i in range(self.count)))

    def check_inputs(self, limits: RequestLimits = RequestLimits()) -> None:
        """Raise InvalidRequestError (with a `reason`) unless every field is in range."""
        if not self.prompt.strip():
            raise InvalidRequestError("empty prompt", reason="prompt")
        if len(self.prompt) > limits.max_prompt_chars or len(self.prompt_2 or "") > limits.max_prompt_chars:
            raise InvalidRequestError("prompt too long", reason="prompt")
        if (self.width, self.height) not in SDXL_RESOLUTIONS:
            size = f"{self.width}x{self.height}"
            raise InvalidRequestError(f"unsupported size {size}", reason="size", size=size, choices=_size_choices())
        if not limits.min_steps <= self.steps <= limits.max_steps:
            raise InvalidRequestError(
                f"steps={self.steps}", reason="steps", low=limits.min_steps, high=limits.max_steps
            )
        if not limits.min_cfg <= self.cfg <= limits.max_cfg:
            raise InvalidRequestError(f"cfg={self.cfg}", reason="cfg", low=limits.min_cfg, high=limits.max_cfg)
        if not 1 <= self.count <= limits.max_count:
            raise InvalidRequestError(f"count={self.count}", reason="count", high=limits.max_count)
        for seed in (self.seed, *self.seeds):
            if seed is not None and not 0 <= seed <= MAX_SEED:
                raise InvalidRequestError(f"seed={seed}", reason="seed", high=MAX_SEED)
        if self.seeds and len(self.seeds) != self.count:
            raise InvalidRequestError("one seed per image", reason="seed", high=MAX_SEED)

    def batch_key(self) -> tuple[object, ...]:
        """Requests with equal keys can share one pipeline call (prompts and seeds may differ)."""
        return (self.width, self.height, self.steps, self.cfg)
