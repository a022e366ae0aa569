"""Style templates for /imagine, kept as data in `data/styles.yaml`.

Why data: florists can add or tune a style without touching code, and strict validation
at load time catches a Chinese word in a prompt field (CLIP cannot read it) or a preset
Stability would reject before any GPU or API time is spent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import UnknownStyleError

__all__ = [
    "DEFAULT_STYLES_PATH",
    "STABILITY_PRESETS",
    "StabilityPreset",
    "LocalizedText",
    "StyleTemplate",
    "StyleLibrary",
    "load_styles",
]

DEFAULT_STYLES_PATH = Path(__file__).parent / "data" / "styles.yaml"

StabilityPreset = Literal[
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
]
STABILITY_PRESETS: tuple[str, ...] = get_args(StabilityPreset)

# Han, kana, hangul, CJK punctuation and fullwidth forms: none of them belongs in a CLIP prompt.
_CJK = re.compile(
    r"[\u2e80-\u2fdf\u3000-\u30ff\u3100-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ID = re.compile(r"[a-z0-9-]+")


def _require_english(value: str, field: str) -> str:
    found = _CJK.search(value)
    if found:
        raise ValueError(f"{field} must be English (CLIP cannot read {found.group()!r}): {value!r}")
    return value


class LocalizedText(BaseModel):
    """A text in both languages the bot speaks; the member's locale picks one."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @field_validator("zh")
    @classmethod
    def _zh_is_chinese(cls, value: str) -> str:
        if not _HAN.search(value):
            raise ValueError(f"zh must contain Chinese characters: {value!r}")
        return value

    @field_validator("en")
    @classmethod
    def _en_is_english(cls, value: str) -> str:
        return _require_english(value, "en")

    def get(self, lang: Literal["zh", "en"]) -> str:
        return self.zh if lang == "zh" else self.en


class StyleTemplate(BaseModel):
    """One style: bilingual labels for members, English prompt parts for the model."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str
    name: LocalizedText
    description: LocalizedText
    composition: str = Field(min_length=1)
    line_and_space: str = Field(min_length=1)
    vessel: str = Field(min_length=1)
    palette: str = Field(min_length=1)
    lighting: str = Field(min_length=1)
    medium: str = Field(min_length=1)
    flowers: list[str] = Field(min_length=1)
    negative_prompt: str = Field(min_length=1)
    stability_preset: StabilityPreset
    examples: dict[Literal["zh", "en"], list[str]]

    @field_validator("id")
    @classmethod
    def _id_is_slug(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(f"id must be lowercase letters, digits and '-': {value!r}")
        return value

    @field_validator("composition", "line_and_space", "vessel", "palette", "lighting", "medium", "negative_prompt")
    @classmethod
    def _prompt_part_is_english(cls, value: str, info: ValidationInfo) -> str:
        return _require_english(value, info.field_name)

    @field_validator("flowers")
    @classmethod
    def _flowers_are_english(cls, value: list[str]) -> list[str]:
        cleaned = [flower.strip() for flower in value]
        if not all(cleaned):
            raise ValueError("flowers must not contain empty names")
        for flower in cleaned:
            _require_english(flower, "flowers")
        return cleaned

    @field_validator("examples")
    @classmethod
    def _examples_in_both_languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned: dict[str, list[str]] = {}
        for lang in ("zh", "en"):
            items = [item.strip() for item in value.get(lang, [])]
            if not items or not all(items):
                raise ValueError(f"examples.{lang} must be a non-empty list of non-empty strings")
            cleaned[lang] = items
        if bad := [item for item in cleaned["zh"] if not _HAN.search(item)]:
            raise ValueError(f"examples.zh must be written in Chinese: {bad[0]!r}")
        return cleaned

    def label(self, lang: Literal["zh", "en"]) -> str:
        """The autocomplete label: the member's language first, the other after it."""
        if lang == "zh":
            return f"{self.name.zh} · {self.name.en}"
        return f"{self.name.en} · {self.name.zh}"


def _key(text: str) -> str:
    return text.strip().casefold()


class StyleLibrary:
    """The loaded styles, looked up the way members type them: id, Chinese or English name."""

    def __init__(self, templates: list[StyleTemplate]) -> None:
        self._templates: dict[str, StyleTemplate] = {}
        self._index: dict[str, StyleTemplate] = {}
        for template in templates:
            if template.id in self._templates:
                raise ValueError(f"duplicate style id {template.id!r}")
            self._templates[template.id] = template
        for template in templates:
            for key in {_key(template.id), _key(template.name.zh), _key(template.name.en)}:
                other = self._index.setdefault(key, template)
                if other is not template:
                    raise ValueError(f"style {template.id!r}: name {key!r} is already used by style {other.id!r}")

    @property
    def ids(self) -> list[str]:
        return list(self._templates)

    def get(self, key: str) -> StyleTemplate:
        """The style for an id or a zh/en name; unknown raises `UnknownStyleError` listing the ids."""
        template = self._index.get(_key(key))
        if template is None:
            raise UnknownStyleError(f"unknown style {key!r}", style=key, choices=", ".join(self.ids))
        return template

    def choices(self, query: str, lang: Literal["zh", "en"], limit: int = 25) -> list[tuple[str, str]]:
        """(label, id) pairs for Discord autocomplete, which allows at most 25 and needs them fast."""
        needle = _key(query)
        matches = [
            (template.label(lang), template.id)
            for template in self._templates.values()
            if not needle or any(needle in _key(text) for text in (template.id, template.name.zh, template.name.en))
        ]
        return matches[: max(limit, 0)]

    def __iter__(self) -> Iterator[StyleTemplate]:
        return iter(self._templates.values())

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _key(key) in self._index

    def __repr__(self) -> str:
        return f"StyleLibrary({', '.join(self.ids)})"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys, which PyYAML would silently overwrite."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _describe(errors: ValidationError) -> str:
    parts = []
    for error in errors.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(style)"
        parts.append(f"field {field!r}: {error['msg']}")
    return "; ".join(parts)


def load_styles(path: Path | None = None) -> StyleLibrary:
    """Read and validate the style file; any problem is a `ValueError` naming file, style and field."""
    path = path or DEFAULT_STYLES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read style file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from exc
    raw_styles = data.get("styles") if isinstance(data, dict) else None
    if not isinstance(raw_styles, list) or not raw_styles:
        raise ValueError(f"{path}: expected a top-level 'styles' list with at least one style")

    templates = []
    for index, raw in enumerate(raw_styles):
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: style #{index}: expected a mapping, got {type(raw).__name__}")
        where = f"style #{index} ({raw['id']!r})" if isinstance(raw.get("id"), str) else f"style #{index}"
        try:
            templates.append(StyleTemplate.model_validate(raw))
        except ValidationError as exc:
            raise ValueError(f"{path}: {where}: {_describe(exc)}") from exc
    try:
        return StyleLibrary(templates)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
