"""The style templates: shipped data, lookup, autocomplete and loader validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from imaging.errors import UnknownStyleError
from imaging.styles import DEFAULT_STYLES_PATH, STABILITY_PRESETS, StyleLibrary, StyleTemplate, load_styles
from rag.glossary import PLANT_CATEGORIES, Glossary

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_IDS = [
    "chinese",
    "european",
    "japanese",
    "modern",
    "wedding",
    "korean",
    "dutch-still-life",
    "minimalist",
    "garden",
    "tropical",
    "sympathy",
    "festival",
]
PROMPT_FIELDS = ("composition", "line_and_space", "vessel", "palette", "lighting", "medium", "negative_prompt")


@pytest.fixture(scope="module")
def library() -> StyleLibrary:
    return load_styles()


@pytest.fixture(scope="module")
def raw_styles() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_STYLES_PATH.read_text(encoding="utf-8"))


def write_styles(tmp_path: Path, styles: list[dict[str, Any]]) -> Path:
    path = tmp_path / "styles.yaml"
    path.write_text(yaml.safe_dump({"styles": styles}, allow_unicode=True), encoding="utf-8")
    return path


def test_all_required_styles_present(library: StyleLibrary) -> None:
    assert set(REQUIRED_IDS) <= set(library.ids)
    assert len(library) == len(library.ids) >= 12


@pytest.mark.parametrize("style_id", REQUIRED_IDS)
def test_template_fields_are_complete(library: StyleLibrary, style_id: str) -> None:
    style = library.get(style_id)
    for text in (style.name, style.description):
        assert text.zh and text.en
    for field in PROMPT_FIELDS:
        value = getattr(style, field)
        assert value and value.isascii(), field
    assert 4 <= len(style.flowers) <= 8
    assert len(set(style.flowers)) == len(style.flowers)
    assert style.stability_preset in STABILITY_PRESETS
    for lang in ("zh", "en"):
        assert 2 <= len(style.examples[lang]) <= 3, lang
    negative = style.negative_prompt.lower()
    for quality in ("blurry", "lowres", "deformed", "watermark", "text"):
        assert quality in negative, quality


def test_flowers_exist_in_glossary(library: StyleLibrary) -> None:
    glossary = Glossary.load(ROOT / "knowledge_base" / "glossary.csv")
    plants = {term.en for term in glossary.terms if term.category in PLANT_CATEGORIES}
    missing = {style.id: [f for f in style.flowers if f not in plants] for style in library}
    assert {k: v for k, v in missing.items() if v} == {}


def test_names_are_unique(library: StyleLibrary) -> None:
    zh = [style.name.zh for style in library]
    en = [style.name.en.lower() for style in library]
    assert len(set(zh)) == len(zh) and len(set(en)) == len(en)


def test_lookup_by_id_and_names(library: StyleLibrary) -> None:
    chinese = library.get("chinese")
    assert library.get("  CHINESE ").id == "chinese"
    assert library.get(chinese.name.zh).id == "chinese"
    assert library.get(f" {chinese.name.en.upper()} ").id == "chinese"
    assert library.get(library.get("korean").name.en.lower()).id == "korean"
    assert library.get("Dutch-Still-Life").id == "dutch-still-life"
    assert "中式插花" in library and "japanese" in library
    assert "baroque" not in library and 42 not in library
    assert [style.id for style in library] == library.ids


def test_unknown_style_lists_choices(library: StyleLibrary) -> None:
    with pytest.raises(UnknownStyleError) as info:
        library.get("baroque")
    assert info.value.code == "unknown_style"
    assert info.value.params["style"] == "baroque"
    assert info.value.params["choices"].split(", ") == library.ids


def test_choices_labels_and_filtering(library: StyleLibrary) -> None:
    zh = library.choices("", "zh")
    assert [style_id for _, style_id in zh] == library.ids
    assert ("中式插花 · Chinese", "chinese") in zh
    assert ("Chinese · 中式插花", "chinese") in library.choices("", "en")

    assert library.choices("JAPAN", "en") == [("Japanese Ikebana · 日本花道", "japanese")]
    assert [i for _, i in library.choices("韩式", "zh")] == ["korean"]
    assert [i for _, i in library.choices("still", "zh")] == ["dutch-still-life"]
    assert library.choices("no such style", "en") == []

    flower_arts = [i for _, i in library.choices("花艺", "zh")]
    assert flower_arts == [i for i in library.ids if "花艺" in library.get(i).name.zh]
    assert len(flower_arts) >= 2
    assert library.choices("", "en", limit=3) == library.choices("", "en")[:3]


def test_library_rejects_duplicate_ids(library: StyleLibrary) -> None:
    chinese = library.get("chinese")
    with pytest.raises(ValueError, match="duplicate style id 'chinese'"):
        StyleLibrary([chinese, chinese])


def test_loader_accepts_a_valid_copy(tmp_path: Path, raw_styles: dict[str, Any]) -> None:
    path = write_styles(tmp_path, raw_styles["styles"][:2])
    assert load_styles(path).ids == [s["id"] for s in raw_styles["styles"][:2]]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("palette", "淡粉色, ivory", "must be English"),
        ("flowers", ["rose", "牡丹"], "must be English"),
        ("negative_prompt", "blurry，lowres", "must be English"),
        ("stability_preset", "watercolor", "photographic"),
        ("id", "Chinese Style", "lowercase"),
        ("vessel", "", "at least 1 character"),
    ],
)
def test_loader_rejects_bad_field(
    tmp_path: Path, raw_styles: dict[str, Any], field: str, value: Any, reason: str
) -> None:
    style = copy.deepcopy(raw_styles["styles"][0])
    style[field] = value
    path = write_styles(tmp_path, [copy.deepcopy(raw_styles["styles"][1]), style])
    with pytest.raises(ValueError, match=f"field '{field}'") as info:
        load_styles(path)
    message = str(info.value)
    assert str(path) in message and "style #1" in message and reason in message


def test_loader_rejects_english_zh_example(tmp_path: Path, raw_styles: dict[str, Any]) -> None:
    style = copy.deepcopy(raw_styles["styles"][0])
    style["examples"]["zh"] = ["a peony in a black vase"]
    with pytest.raises(ValueError, match="examples"):
        load_styles(write_styles(tmp_path, [style]))


def test_loader_rejects_missing_examples_language(tmp_path: Path, raw_styles: dict[str, Any]) -> None:
    style = copy.deepcopy(raw_styles["styles"][0])
    del style["examples"]["en"]
    with pytest.raises(ValueError, match="examples"):
        load_styles(write_styles(tmp_path, [style]))


def test_loader_rejects_duplicate_ids(tmp_path: Path, raw_styles: dict[str, Any]) -> None:
    first = raw_styles["styles"][0]
    path = write_styles(tmp_path, [first, copy.deepcopy(first)])
    with pytest.raises(ValueError, match="duplicate style id") as info:
        load_styles(path)
    assert str(path) in str(info.value)


def test_loader_rejects_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("styles:\n  - id: chinese\n    name: {zh: 中式, en: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid YAML") as info:
        load_styles(path)
    assert str(path) in str(info.value)


def test_loader_rejects_duplicate_yaml_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("styles:\n  - id: chinese\n    id: european\n", encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate key 'id'"):
        load_styles(path)


def test_loader_rejects_missing_file_and_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nowhere.yaml"):
        load_styles(tmp_path / "nowhere.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- id: chinese\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'styles' list"):
        load_styles(path)


def test_template_is_immutable(library: StyleLibrary) -> None:
    with pytest.raises(ValidationError):
        library.get("chinese").palette = "neon"  # type: ignore[misc]
    assert isinstance(library.get("chinese"), StyleTemplate)
