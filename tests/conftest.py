"""Shared fixtures: the real packaged MiniLM (loaded once), small and full knowledge bases."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "knowledge_base"


@pytest.fixture(scope="session")
def embeddings():
    from rag.embeddings import SentenceEmbeddings

    emb = SentenceEmbeddings()
    emb.encode(["warm up"])
    return emb


def make_services(data_dir: Path, embeddings, kb_dir: Path | None = None, **overrides):
    """A `Services` on `data_dir` sharing the session's embedding model."""
    from bot.services import Services
    from bot.settings import load_settings

    settings = load_settings(
        data_dir=data_dir, kb_dir=kb_dir or KB_DIR, glossary_path=KB_DIR / "glossary.csv", **overrides
    )
    services = Services(settings)
    services.embeddings = embeddings  # type: ignore[misc]  # override the lazily built one
    return services


@pytest.fixture(scope="session")
def full_services(tmp_path_factory, embeddings):
    """Services over the whole curated knowledge base, indexed once per test session."""
    services = make_services(tmp_path_factory.mktemp("full-data"), embeddings)
    services.build_index()
    return services


SMALL_DOCS = {
    "en/flowers/peony.md": """\
        ---
        id: flowers-peony
        title: Peony
        lang: en
        tags: [flower, spring]
        aliases: [tree peony]
        ---
        # Peony

        ## Vase life and conditioning
        Peony lasts 3 to 5 days in a vase. Cut peony stems at an angle and give them cool water.

        ## Toxicity
        Peony is mildly toxic to cats and dogs and can upset the stomach.
        """,
    "en/flowers/tulip.md": """\
        ---
        id: flowers-tulip
        title: Tulip
        lang: en
        tags: [flower, spring]
        aliases: []
        ---
        # Tulip

        ## Vase life and conditioning
        Tulip stems keep growing in the vase and bend toward the light. Wrap tulips in paper to straighten them.
        """,
    "zh/flowers/peony.md": """\
        ---
        id: flowers-peony
        title: 牡丹
        lang: zh
        tags: [flower, spring]
        aliases: [花中之王]
        ---
        # 牡丹

        ## 瓶插寿命与处理
        牡丹的瓶插期一般为3到5天。剪切时宜斜剪，并放入凉水中醒花。

        ## 毒性
        牡丹对猫狗有轻微毒性，误食可能引起呕吐。
        """,
    "zh/techniques/kenzan.md": """\
        ---
        id: techniques-kenzan
        title: 剑山
        lang: zh
        tags: [technique, mechanics]
        aliases: [花插]
        ---
        # 剑山

        ## 用法
        剑山是底部带密集铜针的固定器，放在水盘里固定花枝。粗枝要先剪十字口再插上剑山。
        """,
    "en/design/balance.md": """\
        ---
        id: design-balance
        title: Balance
        lang: en
        tags: [design, principle]
        aliases: []
        ---
        # Balance

        ## Visual weight
        Dark colours and large blooms carry more visual weight than pale, small ones.
        Asymmetrical balance offsets a heavy focal flower with several lighter stems.
        """,
    "notes.txt": "Hydrangea heads can be revived by submerging them in cool water for thirty minutes.\n",
}


@pytest.fixture()
def small_kb(tmp_path) -> Path:
    kb = tmp_path / "kb"
    for rel, body in SMALL_DOCS.items():
        path = kb / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
    return kb


@pytest.fixture(scope="session")
def clip_tokenizer(tmp_path_factory):
    """transformers' CLIPTokenizer built from the open_clip BPE file, cached for the session."""
    from imaging.clip_tokenizer import load_clip_tokenizer

    return load_clip_tokenizer(tmp_path_factory.mktemp("clip-cache"))


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory, clip_tokenizer):
    """A tiny random-weight SDXL pipeline saved with save_pretrained, as IMAGE_MODEL=<dir> expects."""
    from tests.tiny_sdxl import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl") / "model")


@pytest.fixture(scope="session")
def tiny_backend(tiny_sdxl_dir):
    """The production local backend on the tiny pipeline, loaded once (CPU explicitly allowed)."""
    from imaging.backends.local_sdxl import LocalSDXLBackend, LocalSDXLConfig

    backend = LocalSDXLBackend(LocalSDXLConfig(model=str(tiny_sdxl_dir), allow_cpu=True, warmup=False))
    backend.load()
    return backend
