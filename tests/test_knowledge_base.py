"""Every curated document and glossary row is valid, and the base covers what it must."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import frontmatter
import pytest

from rag.glossary import CATEGORIES, Glossary
from rag.text import has_cjk

from .conftest import KB_DIR

DOCS = sorted(p for p in KB_DIR.rglob("*.md") if p.name.lower() != "readme.md")
CATEGORY_DIRS = {"flowers", "foliage", "traditions", "techniques", "design", "occasions", "troubleshooting"}


def _meta(path: Path) -> dict:
    return dict(frontmatter.load(path).metadata)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(KB_DIR)))
def test_front_matter(path: Path) -> None:
    post = frontmatter.load(path)
    meta = post.metadata
    lang, category, slug = path.relative_to(KB_DIR).parts[0], path.parent.name, path.stem
    assert meta.get("lang") == lang, "lang must match the zh/ or en/ folder"
    assert category in CATEGORY_DIRS
    assert meta.get("id") == f"{category}-{slug}"
    assert isinstance(meta.get("title"), str) and meta["title"].strip()
    assert has_cjk(meta["title"]) == (lang == "zh"), "zh titles are Chinese, en titles are not"
    tags = meta.get("tags")
    assert isinstance(tags, list) and 1 <= len(tags) <= 8
    assert all(isinstance(t, str) and re.fullmatch(r"[a-z0-9-]+", t) for t in tags)
    assert isinstance(meta.get("aliases"), list)
    if category in {"flowers", "foliage"}:
        assert isinstance(meta.get("latin"), str) and meta["latin"].strip()
    body = post.content
    assert body.lstrip().startswith("# "), "body starts with the title heading"
    assert body.count("\n## ") >= 2, "body has sections"
    if lang == "zh":
        assert len(re.findall(r"[\u4e00-\u9fff]", body)) >= 300
    else:
        assert len(body.split()) >= 200


def test_collection_size_and_balance() -> None:
    langs = Counter(_meta(p)["lang"] for p in DOCS)
    assert len(DOCS) >= 160
    assert abs(langs["zh"] - langs["en"]) <= len(DOCS) * 0.1


def test_core_topics_exist_in_both_languages() -> None:
    by_id: dict[str, set[str]] = {}
    for path in DOCS:
        meta = _meta(path)
        by_id.setdefault(meta["id"], set()).add(meta["lang"])
    unpaired = sorted(i for i, langs in by_id.items() if langs != {"zh", "en"})
    assert not unpaired, f"topics missing a language: {unpaired}"
    required = [
        "traditions-chinese-arrangement-history", "traditions-chinese-vessel-forms", "traditions-line-liubai-yijing",
        "traditions-ping-shi", "traditions-ping-hua-pu", "traditions-four-gentlemen", "traditions-ikenobo",
        "traditions-ohara-moribana", "traditions-sogetsu", "traditions-shin-soe-hikae", "traditions-hogarth-curve",
        "traditions-crescent-design", "traditions-triangle-design", "traditions-round-design", "traditions-fan-design",
        "traditions-l-shape-design", "traditions-cascade-design", "traditions-dutch-flemish-still-life",
        "traditions-modern-minimalist", "traditions-korean-bouquet", "traditions-garden-rustic", "traditions-tropical-style",
        "techniques-cutting-and-conditioning", "techniques-water-temperature", "techniques-flower-food",
        "techniques-ethylene", "techniques-kenzan", "techniques-chicken-wire", "techniques-grid-tape",
        "techniques-hand-tied-spiral", "techniques-wiring-and-taping", "techniques-bouquet-shapes",
        "design-balance", "design-proportion", "design-focal-point", "design-rhythm", "design-colour-schemes",
        "occasions-wedding-flowers", "occasions-funeral-and-sympathy", "occasions-hospital-visits",
        "occasions-spring-festival", "occasions-mid-autumn", "occasions-qingming", "occasions-valentines-day",
        "occasions-mothers-day", "occasions-christmas", "occasions-flower-gifting-taboos",
        "troubleshooting-bent-neck-roses", "troubleshooting-wilting-hydrangea", "troubleshooting-bending-tulips",
        "troubleshooting-daffodil-sap", "troubleshooting-cloudy-water",
    ]
    missing = [r for r in required if r not in by_id]
    assert not missing


def test_at_least_80_flowers_and_foliage_with_required_sections() -> None:
    plants = [p for p in DOCS if p.parent.name in {"flowers", "foliage"}]
    assert len({_meta(p)["id"] for p in plants}) >= 80
    headings = {
        "en": ["Names", "Symbolism", "Season and colours", "Vase life and conditioning", "Toxicity", "In arrangements"],
        "zh": ["名称", "花语与象征", "花期与花色", "瓶插寿命与处理", "毒性", "插花应用"],
    }
    for path in plants:
        post = frontmatter.load(path)
        found = re.findall(r"^## (.+)$", post.content, re.M)
        assert found == headings[post["lang"]], f"{path}: sections {found}"


def test_glossary_rows() -> None:
    glossary = Glossary.load(KB_DIR / "glossary.csv")  # raises GlossaryError on any bad row
    assert len(glossary) >= 400
    zh = Counter(t.zh for t in glossary.terms)
    assert not [k for k, n in zh.items() if n > 1], "zh terms are unique"
    categories = Counter(t.category for t in glossary.terms)
    assert set(categories) <= CATEGORIES
    for needed in ("flower", "foliage", "colour", "vessel", "material", "style", "technique"):
        assert categories[needed] >= 10, needed
    for term in glossary.terms:
        assert term.en.isascii() and term.en == term.en.strip()
        assert all(has_cjk(a) for a in term.zh_aliases)


def test_every_flower_article_is_in_the_glossary() -> None:
    glossary = Glossary.load(KB_DIR / "glossary.csv")
    for path in DOCS:
        meta = _meta(path)
        if meta["lang"] == "zh" and path.parent.name in {"flowers", "foliage"}:
            names = [meta["title"], *meta.get("aliases", [])]
            assert any(glossary.find_zh(name) for name in names), f"{path}: no glossary term for {names}"
